/**
 * The JSON job a load worker gets as its command-line argument, parsed: a value, or why
 * it could not be (the workers answer a reason instead of throwing).
 */
export function parseJobArgument(text: string | undefined): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(text ?? '') };
  } catch {
    return { ok: false, reason: 'the job argument is not JSON' };
  }
}
