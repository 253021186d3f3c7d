/** Resident set size of this process in MiB. */
export function rssMb(): number {
  return process.memoryUsage.rss() / (1024 * 1024);
}
