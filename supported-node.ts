/**
 * Imported first by every entry point. better-sqlite3 13 and Moleculer 0.15 need Node 22 or
 * later, and on Node 20 the SQLite binding ends the process with a segmentation fault rather
 * than an error. `node dist/main.js` run by hand takes the machine's Node; npm scripts take
 * the Node 24 that package.json pins, from node_modules/.bin.
 */
const OLDEST_MAJOR = 22;

const major = Number(process.versions.node.split(".")[0]);
if (major < OLDEST_MAJOR) {
  console.error(
    `GlitchBuster needs Node ${OLDEST_MAJOR} or later and this is Node ${process.versions.node}. ` +
      "Run it through npm (npm start, npm run start:cluster, npm run repl), which uses the Node 24 " +
      "installed in node_modules, or as `npx node dist/main.js`.",
  );
  process.exit(1);
}
