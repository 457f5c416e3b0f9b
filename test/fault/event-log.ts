// The last few hundred events of a fault run (operations that failed, faults), with their time since
// the start: printed when a check fails, to see what happened to a path around the time it went wrong.

export class EventLog {
  private readonly lines: string[] = []
  private readonly started = Date.now()
  private readonly capacity: number

  constructor (capacity = 400) {
    this.capacity = capacity
  }

  add (line: string): void {
    this.lines.push(`${((Date.now() - this.started) / 1000).toFixed(1).padStart(7)} s  ${line}`)
    if (this.lines.length > this.capacity) this.lines.shift()
  }

  /** The events mentioning `needle` (all when omitted), oldest first. */
  tail (count: number, needle?: string): string[] {
    const picked = needle === undefined ? this.lines : this.lines.filter((line) => line.includes(needle))
    return picked.slice(-count)
  }
}
