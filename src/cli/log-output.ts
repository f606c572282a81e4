/** Where the start command's log lines go: stderr, batched per task (log-writer.ts). */
import process from "node:process";
import { batchedLines } from "../gateway/log-writer.ts";

/** Log lines to stderr (one write per task; a closed stderr never stops the gateway). */
export function stderrLines(): (line: string) => void {
  return batchedLines((chunk) => {
    process.stderr.write(chunk);
  });
}
