/**
 * The JSON job a load worker gets as its command-line argument, parsed: an object, or
 * why it is not one (the workers answer a reason instead of throwing).
 */
export function parseJobArgument(text: string | undefined): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(text ?? '');
  } catch {
    return { ok: false, reason: 'the job argument is not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reason: 'the job is not an object' };
  return { ok: true, value: v as Record<string, unknown> };
}
