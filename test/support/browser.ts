import { Browser, chromium } from "playwright-core";

/** Debian's chromium, which .ci/run installs when it is missing. */
export const CHROMIUM = "/usr/bin/chromium";

/** Headless chromium as root, without a sandbox, and with no background traffic to hosts this machine cannot reach. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
