/** What the buses log through: the Moleculer service logger fits, and so does `console`. */
export interface BusLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
