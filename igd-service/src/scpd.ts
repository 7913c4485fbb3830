/**
 * The SCPD document (UDA 1.0 §2.3) of each service, generated from the declaration with
 * xmlbuilder2, so it is escaped by construction and can never disagree with what the SOAP
 * dispatcher accepts. Actions without arguments have no argumentList; a variable's
 * allowedValueList / allowedValueRange appear only when declared.
 * Must not: be written by hand or cached across a change of the declaration (there is none
 * at run time; the document is a pure function of it).
 */
import { create } from 'xmlbuilder2';
import { UPNP_SERVICE_NAMESPACE, serviceDeclaration } from './declaration.js';
import type { IgdServiceKey, IgdVersion } from './declaration.js';
import { UDA_MINOR_VERSION } from './description.js';

/** The SCPD XML of one service in an IGD version (default 1), UTF-8 text with an XML declaration. */
export function buildScpd(service: IgdServiceKey, version: IgdVersion = 1): string {
  const declaration = serviceDeclaration(service, version);
  const scpd = create({ version: '1.0' }).ele(UPNP_SERVICE_NAMESPACE, 'scpd');
  scpd.ele('specVersion').ele('major').txt('1').up().ele('minor').txt(UDA_MINOR_VERSION[version]);
  const actionList = scpd.ele('actionList');
  for (const action of declaration.actions) {
    const node = actionList.ele('action');
    node.ele('name').txt(action.name);
    const args = [
      ...action.inArgs.map((a) => ({ ...a, direction: 'in' })),
      ...action.outArgs.map((a) => ({ ...a, direction: 'out' })),
    ];
    if (args.length === 0) continue;
    const argumentList = node.ele('argumentList');
    for (const arg of args) {
      argumentList.ele('argument')
        .ele('name').txt(arg.name).up()
        .ele('direction').txt(arg.direction).up()
        .ele('relatedStateVariable').txt(arg.relatedStateVariable);
    }
  }
  const table = scpd.ele('serviceStateTable');
  for (const variable of declaration.stateVariables) {
    const node = table.ele('stateVariable').att('sendEvents', variable.sendEvents ? 'yes' : 'no');
    node.ele('name').txt(variable.name);
    node.ele('dataType').txt(variable.dataType);
    if (variable.allowedValues) {
      const list = node.ele('allowedValueList');
      for (const value of variable.allowedValues) list.ele('allowedValue').txt(value);
    }
    if (variable.range) {
      const range = node.ele('allowedValueRange');
      range.ele('minimum').txt(String(variable.range.minimum));
      range.ele('maximum').txt(String(variable.range.maximum));
      if (variable.range.step !== undefined) range.ele('step').txt(String(variable.range.step));
    }
  }
  return scpd.end({ prettyPrint: true });
}
