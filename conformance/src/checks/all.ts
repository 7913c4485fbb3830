import type { Check } from './check.js';
import { descriptionChecks } from './description.js';
import { soapChecks } from './soap.js';

/** Every check, in the order they run. */
export const ALL_CHECKS: readonly Check[] = [...descriptionChecks, ...soapChecks];
