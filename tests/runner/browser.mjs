// Debian's Chromium through the playwright-core in PLAYWRIGHT_DIR (no browser download),
// with the flags every browser test here uses: no sandbox (we are root), no network of its own.
import { createRequire } from "node:module";
import path from "node:path";

export async function launchChromium(playwrightDir, chromium) {
  const require = createRequire(path.join(playwrightDir, "package.json"));
  const { chromium: launcher } = require("playwright-core");
  return launcher.launch({
    executablePath: chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
