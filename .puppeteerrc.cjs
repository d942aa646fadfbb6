/**
 * Puppeteer must never download a browser: nothing outside the npm and Debian registries is reachable,
 * and the tests drive Debian's /usr/bin/chromium and /usr/bin/firefox-esr instead.
 * @type {import('puppeteer').Configuration}
 */
module.exports = { skipDownload: true };
