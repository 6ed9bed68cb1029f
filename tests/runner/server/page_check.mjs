// Drives Debian's Chromium with Playwright (playwright-core: no browser download) through
// moil's WES web page: the runs list at /, where run RUN_ID must be seen QUEUED and then
// COMPLETE without a reload; then its page, where the run report's timeline must be drawn.
//
//   node page_check.mjs PLAYWRIGHT_DIR CHROMIUM BASE_URL RUN_ID SCREENSHOT
//
// Prints "seen QUEUED" once the list shows the run queued (the test then lets it run), and
// at the end one JSON line: the states seen, in order, and what the run page showed.
import { launchChromium } from "../browser.mjs";

const [playwrightDir, chromium, base, runId, shot] = process.argv.slice(2);
const browser = await launchChromium(playwrightDir, chromium);
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(base + "/");
  const row = page.locator(`tr[data-run="${runId}"] .state`);
  const seen = [];
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    const state = (await row.count()) ? await row.first().textContent() : null;
    if (state && state !== seen[seen.length - 1]) {
      seen.push(state);
      if (state === "QUEUED") console.log("seen QUEUED");
    }
    if (state === "COMPLETE" || state === "EXECUTOR_ERROR" || state === "SYSTEM_ERROR") break;
    await page.waitForTimeout(100);
  }
  await page.locator(`tr[data-run="${runId}"] a`).first().click();
  await page.waitForURL(`**/runs/${runId}`);
  // the run report in its frame: ECharts draws the timeline on a canvas, and the report
  // says how many bars it drew once it is ready (window.moilReport)
  const report = page.frameLocator("#report");
  await report.locator("#timeline canvas").first().waitFor({ timeout: 60_000 });
  const frame = page.frames().find((f) => f !== page.mainFrame());
  await frame.waitForFunction(() => window.moilReport && window.moilReport.ready, null,
                              { timeout: 60_000 });
  const bars = await frame.evaluate(() => window.moilReport.bars);
  await page.locator("#report-box").scrollIntoViewIfNeeded();
  const heading = await page.locator("h2").first().textContent();
  const outputs = await page.locator("#outputs li").count();
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ seen, bars, heading, outputs }));
} finally {
  await browser.close();
}
