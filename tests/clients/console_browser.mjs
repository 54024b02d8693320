// Opens a console page in headless Debian chromium through playwright-core, waits until the
// page says it is connected and noVNC has drawn the guest's screen, optionally types a line
// into the guest, and saves a screenshot.
//
//   node console_browser.mjs URL SCREENSHOT.png [TEXT_TO_TYPE]
//
// Environment: WEB_DIR (where npm installed playwright-core), CHROMIUM (the browser binary).
// Prints one JSON line: {"state": …, "status": …, "colours": N}. Exits 1 on a failure.
import { createRequire } from "node:module";
import { join } from "node:path";

const [url, shot, text] = process.argv.slice(2);
const require = createRequire(join(process.env.WEB_DIR, "package.json"));
const { chromium } = require("playwright-core");

// QEMU reads the keys' scancodes, so a character that needs Shift on a US keyboard (capitals
// included) must
// come with Shift pressed: playwright's type() sends the character's key alone (QEMU.md:
// "$ ( *" arrive unshifted otherwise).
const SHIFTED = {
  ">": "Period", "<": "Comma", "|": "Backslash", "$": "Digit4", "(": "Digit9", ")": "Digit0",
  "*": "Digit8", "&": "Digit7", "_": "Minus", "\"": "Quote", ":": "Semicolon", "!": "Digit1",
};
async function typeInto(page, text) {
  for (const ch of text) {
    const code = SHIFTED[ch] || (/^[A-Z]$/.test(ch) ? "Key" + ch : null);
    if (code) {
      await page.keyboard.down("Shift");
      await page.keyboard.press(code);
      await page.keyboard.up("Shift");
    } else {
      await page.keyboard.type(ch);
    }
    await page.waitForTimeout(20);
  }
}

let browser;
let code = 0;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push("pageerror: " + e.message));
  await page.goto(url);
  const status = page.locator("#status");
  // Connected, or a final state that is not.
  await page.waitForFunction(() => {
    const s = document.getElementById("status").dataset.state;
    return s === "connected" || s === "disconnected" || s === "error";
  }, null, { timeout: 30000 });
  const state = await status.getAttribute("data-state");
  let colours = 0;
  if (state === "connected") {
    // noVNC draws on a 2d canvas: wait until it shows more than one colour.
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      colours = await page.evaluate(() => {
        const c = document.querySelector("#screen canvas");
        if (!c || !c.width) return 0;
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length && seen.size < 64; i += 4 * 7) {
          seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        }
        return seen.size;
      });
      if (colours > 1) break;
      await page.waitForTimeout(200);
    }
    if (text) {
      await page.locator("#screen canvas").click();
      await typeInto(page, text);
      await page.keyboard.press("Enter");
      await page.waitForTimeout(1500);
    }
  }
  await page.screenshot({ path: shot });
  console.log(JSON.stringify({ state, status: await status.textContent(), colours, logs }));
} catch (e) {
  console.error("console_browser.mjs: " + (e && e.stack ? e.stack : e));
  code = 1;
} finally {
  // playwright gives every launch a fresh profile of its own and removes it here.
  if (browser) await browser.close();
}
process.exit(code);
