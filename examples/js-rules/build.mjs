// Builds rules.js into a tandem:rules@1.0.0 component: node build.mjs OUT.wasm
// Every optional WASI feature is off, so the component imports only what
// tandem allows (and makes inert).
import { componentize } from "@bytecodealliance/componentize-js";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const out = resolve(process.argv[2] ?? "js_rules.wasm");
// The splicer reads its inputs inside its own sandbox, which sees the system's
// temporary directory: build from a copy there.
const work = await mkdtemp(join(tmpdir(), "tandem-js-rules-"));
try {
  await mkdir(join(work, "wit"));
  await copyFile(join(here, "../../wit/rules.wit"), join(work, "wit/rules.wit"));
  await copyFile(join(here, "rules.js"), join(work, "rules.js"));
  const { component } = await componentize({
    sourcePath: join(work, "rules.js"),
    witPath: join(work, "wit/rules.wit"),
    worldName: "rules",
    disableFeatures: ["stdio", "random", "clocks", "http", "fetch-event"],
  });
  await writeFile(out, component);
  console.error(`built ${out} (${component.length} bytes)`);
} finally {
  await rm(work, { recursive: true, force: true });
}
