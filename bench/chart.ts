/**
 * `npm run bench:chart`: draws the committed results as SVG bar charts, one per scenario,
 * for docs/benchmarks.md. No network, no browser: bench/lib/chart.ts writes the SVG.
 *
 *   npm run bench:chart                          the newest full run of each Node major:
 *                                                bench/results/node<major>-<scenario>.svg
 *   npm run bench:chart -- bench/results/x.json  those files: bench/results/x-<scenario>.svg
 *
 * `--quick` runs are left out of the first form: their numbers are rough.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type ChartInput, renderCharts } from "./lib/chart.js"

const directory = "bench/results"

const read = (file: string): ChartInput => JSON.parse(fs.readFileSync(file, "utf8")) as ChartInput

/** The newest full results file of each Node major, by the date its name starts with. */
const newestPerMajor = (): ReadonlyArray<readonly [string, string]> => {
  const newest = new Map<string, string>()
  const files = fs.readdirSync(directory).filter((name) => /^\d{4}-\d{2}-\d{2}-node[\d.]+\.json$/.test(name)).sort()
  for (const name of files) newest.set(/-node(\d+)\./.exec(name)![1]!, name)
  return [...newest].map(([major, name]) => [path.join(directory, name), `node${major}`] as const)
}

const write = (file: string, stem: string) => {
  for (const { scenario, svg } of renderCharts(read(file))) {
    const out = path.join(path.dirname(file), `${stem}-${scenario}.svg`)
    fs.writeFileSync(out, svg)
    process.stderr.write(`${file} -> ${out}\n`)
  }
}

const files = process.argv.slice(2)
if (files.length === 0) for (const [file, stem] of newestPerMajor()) write(file, stem)
else for (const file of files) write(file, path.basename(file, ".json"))
