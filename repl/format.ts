/** Formats shared by the commands' tables. */

/** Minor units as the currency writes them: 2500 EUR → "25.00 EUR", 2500 JPY → "2500 JPY". */
export function money(minorUnits: number, currency: string): string {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return `${(minorUnits / 10 ** digits).toFixed(digits)} ${currency}`;
}

/** An ISO instant without its T and Z, to the millisecond: "2026-11-29 02:05:29.877". */
export function instant(iso: string | null | undefined): string {
  return iso ? iso.replace("T", " ").replace(/Z$/, "") : "";
}

/** Scalar fields as `name=value`, for a column of details; nested values are left to `show`. */
export function details(data: Record<string, unknown>, skip: readonly string[] = []): string {
  return Object.entries(data)
    .filter(([name, value]) => !skip.includes(name) && value !== null && typeof value !== "object")
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(" ");
}

/** At most `max` characters, an ellipsis marking the cut. */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
