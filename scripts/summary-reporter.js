/**
 * Jest reporter that ends the run with the plain line CI reads: "N passed, N failed[, N skipped]".
 * It also writes the numbers to .ci/results/summary.json for .ci/run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';

export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `${results.numPassedTests} passed, ${failed} failed` +
      (results.numPendingTests ? `, ${results.numPendingTests} skipped` : '');
    try {
      mkdirSync('.ci/results', { recursive: true });
      writeFileSync('.ci/results/summary.json', JSON.stringify({ passed: results.numPassedTests, failed, skipped: results.numPendingTests, line }));
    } catch { /* the line below is what counts */ }
    process.stdout.write(`\n${line}\n`);
  }
}
