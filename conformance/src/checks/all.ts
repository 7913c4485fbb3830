import type { Check } from './check.js';
import { descriptionChecks } from './description.js';
import { soapChecks } from './soap.js';
import { igd2Checks, tableFullCheck } from './igd2.js';
import { genaChecks } from './gena.js';
import { httpChecks } from './http.js';
import { ssdpChecks } from './ssdp.js';
import { natpmpChecks, pcpChecks } from './pmp.js';
import { dataplaneChecks } from './dataplane.js';
import { notifyChecks } from './notify.js';

/** Every check, in the order they run. */
export const ALL_CHECKS: readonly Check[] = [
  ...descriptionChecks, ...soapChecks, ...igd2Checks, ...genaChecks, ...httpChecks, ...ssdpChecks, ...notifyChecks, ...natpmpChecks, ...pcpChecks, ...dataplaneChecks,
  // Last: it takes every port left of the run's range.
  tableFullCheck,
];
