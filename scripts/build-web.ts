/** `npm run build:web`: writes the widget and the console to dist/web and prints their gzipped sizes. */
import { mkdir, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { buildWebAssets } from "../src/web/build-web-assets.ts";

const assets = await buildWebAssets();
await mkdir("dist/web/console", { recursive: true });
const files: [string, string][] = [
  ["dist/web/widget.js", assets.widgetJs],
  ["dist/web/console/index.html", assets.consoleHtml],
  ["dist/web/console/console.js", assets.consoleJs],
  ["dist/web/console/console.css", assets.consoleCss],
];
for (const [path, text] of files) {
  await writeFile(path, text);
  console.log(`${path}: ${text.length} bytes, ${gzipSync(text).length} gzipped`);
}
