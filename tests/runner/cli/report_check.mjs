// Opens a moil run report in Debian's Chromium through Playwright (playwright-core: no
// browser download) at 1400x900 and prints one JSON line of what it measured and saw:
//
//   node report_check.mjs PLAYWRIGHT_DIR CHROMIUM REPORT_URL SHOT_PREFIX [FAILED_SEARCH]
//
// open_ms: navigation start to the page's script having drawn everything (window.moilReport)
// and the next frame painted; overflow: the page is wider than the window; labels: the
// texts ECharts drew on the timeline's canvas; with FAILED_SEARCH, the task table is
// searched for it and filtered to failed attempts, the one row left is opened, and its log
// tail is read; plots: the resource plots, drawn once scrolled to. Screenshots:
// SHOT_PREFIX-page.png (the window), -timeline.png, -plots.png, -failed-task.png.
import { launchChromium } from "../browser.mjs";

const [playwrightDir, chromium, url, shots, failedSearch] = process.argv.slice(2);
const browser = await launchChromium(playwrightDir, chromium);
const out = { errors: [], requests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => out.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(m.text()); });
  page.on("request", (r) => { if (!r.url().startsWith("file:")) out.requests.push(r.url()); });
  await page.goto(url, { waitUntil: "load", timeout: 60_000 });
  await page.waitForFunction(() => window.moilReport && window.moilReport.ready,
                             null, { timeout: 60_000 });
  out.open_ms = await page.evaluate(
    () => new Promise((done) => requestAnimationFrame(() => done(performance.now()))));
  out.script_ms = await page.evaluate(() => window.moilReport.ms);
  const size = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
  }));
  out.width = size;
  out.overflow = size.scroll > size.client;
  out.rows = await page.evaluate(() => window.moilReport.rows);
  out.bars = await page.evaluate(() => window.moilReport.bars);
  out.labels = await page.evaluate(() => {
    const list = window.moilReport.timeline.getZr().storage.getDisplayList();
    return list.filter((e) => e.style && typeof e.style.text === "string" && e.style.text)
      .map((e) => e.style.text);
  });
  await page.screenshot({ path: `${shots}-page.png` });
  await page.locator("#timeline").screenshot({ path: `${shots}-timeline.png` });
  await page.locator("#plot-time").scrollIntoViewIfNeeded();
  await page.waitForFunction(() => window.moilReport.plotsDrawn, null, { timeout: 20_000 });
  out.plots = await page.evaluate(() => window.moilReport.charts.slice(1).map((c) => {
    const option = c.getOption();
    return { title: option.title[0].text, steps: option.xAxis[0].data.length,
             series: option.series.map((s) => s.name) };
  }));
  await page.locator(".grid2").screenshot({ path: `${shots}-plots.png` });
  if (failedSearch) {
    await page.fill("#search", failedSearch);
    await page.selectOption("#status", "failed");
    out.filtered = await page.locator("#tasks tbody tr.row").count();
    out.count_text = await page.locator("#count").textContent();
    await page.locator("#tasks tbody tr.row").first().click();
    const tail = page.locator("#tasks tr.detail pre.log-tail");
    await tail.waitFor({ timeout: 10_000 });
    out.log_tail = await tail.textContent();
    out.error = await page.locator("#tasks tr.detail pre.error").textContent();
    await page.locator("#tasks").scrollIntoViewIfNeeded();
    await page.locator("#tasks").screenshot({ path: `${shots}-failed-task.png` });
    out.overflow_after = await page.evaluate(
      () => document.documentElement.scrollWidth > document.documentElement.clientWidth);
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
