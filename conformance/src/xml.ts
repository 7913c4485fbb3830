/**
 * A small namespace-aware XML tree for descriptions, SCPDs, SOAP answers and GENA property
 * sets, built with saxes (a well-formedness checking parser that expands no external
 * entities). `parseXml` never throws: a document that is not well-formed is a reason.
 */
import { SaxesParser } from 'saxes';

export interface XmlElement {
  /** Local name (`u:Foo` → `Foo`). */
  readonly name: string;
  /** Namespace URI, '' for none. */
  readonly ns: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Text directly inside (CDATA included), not trimmed. */
  text: string;
}

export type XmlParse = { readonly ok: true; readonly root: XmlElement } | { readonly ok: false; readonly reason: string };

/** Parses a whole document; the reason of the first well-formedness error otherwise. */
export function parseXml(text: string): XmlParse {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let error: string | undefined;
  parser.on('error', (e) => { error ??= e.message; });
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) attrs[a.local] = a.value;
    const el: XmlElement = { name: tag.local, ns: tag.uri, attrs, children: [], text: '' };
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else root ??= el;
    stack.push(el);
  });
  parser.on('closetag', () => { stack.pop(); });
  const onText = (t: string) => { if (stack.length) stack[stack.length - 1]!.text += t; };
  parser.on('text', onText);
  parser.on('cdata', onText);
  try {
    parser.write(text).close();
  } catch (e) {
    error ??= e instanceof Error ? e.message : String(e);
  }
  if (error !== undefined) return { ok: false, reason: error };
  return root ? { ok: true, root } : { ok: false, reason: 'no root element' };
}

/** The first child element of that local name. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** Every child element of that local name. */
export function children(el: XmlElement | undefined, name: string): XmlElement[] {
  return el?.children.filter((c) => c.name === name) ?? [];
}

/** The trimmed text of the first child of that name, or undefined. */
export function childText(el: XmlElement | undefined, name: string): string | undefined {
  const c = child(el, name);
  return c === undefined ? undefined : c.text.trim();
}

/** Every element below `el` (depth first, `el` itself first). */
export function descendants(el: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement, depth: number) => {
    if (depth > 64) return;
    out.push(e);
    for (const c of e.children) walk(c, depth + 1);
  };
  walk(el, 0);
  return out;
}
