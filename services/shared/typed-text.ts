/**
 * Text a person could type: no control characters (C0 and C1, NUL and ESC among them) and no
 * lone UTF-16 surrogates, which no keyboard produces and which break the JSON, logs and
 * terminals they are echoed into. Identifiers, reasons and names take this rule wherever they
 * enter: the HTTP body, a header, the REPL.
 */
export const TYPED_TEXT = /^[^\p{Cc}\p{Cs}]*$/u;

/** The fastest-validator rule of a non-empty typed text of at most `max` characters. */
export function typedText(max: number) {
  return {
    type: "string",
    min: 1,
    max,
    pattern: TYPED_TEXT,
    messages: { stringPattern: "The '{field}' field must be text a person could type: no control characters, no lone surrogates." },
  } as const;
}
