/**
 * WAL file names as the archiver reports them (`pg_stat_archiver.last_archived_wal`): a segment
 * `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, then the segment's position in hex), or one with a suffix
 * (`.partial`, `.00000028.backup`), or a timeline's `TTTTTTTT.history`.
 */
const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(?:\..*)?$/;

export interface SegmentName {
  readonly timeline: number;
  /** The segment's position (log and segment number together), comparable within and across timelines. */
  readonly position: bigint;
}

/** The timeline and position of a WAL segment's file name; null for a history file or anything else. */
export function parseSegment(name: string | null | undefined): SegmentName | null {
  const match = SEGMENT.exec(name ?? '');
  if (!match) return null;
  return { timeline: Number.parseInt(match[1]!, 16), position: (BigInt(`0x${match[2]!}`) << 32n) | BigInt(`0x${match[3]!}`) };
}

/**
 * Whether the archiver having archived `archived` means `wanted` is archived too. The archiver
 * archives a timeline's segments in order, so on the same timeline any segment at or past the
 * wanted one says so; a later timeline began after a promotion, which archives what came before
 * it first. A history file or a name that is not a segment proves nothing (keep waiting).
 * Compared as numbers, not strings: the timeline comes first in the name, so `00000002…0001`
 * sorts after `00000001…0009` as text while being a different history.
 */
export function archivedPast(archived: string | null | undefined, wanted: string): boolean {
  const done = parseSegment(archived);
  const target = parseSegment(wanted);
  if (done === null || target === null) return false;
  // A `.partial` segment is the old timeline's last, cut short at a promotion: not the full segment.
  if (archived!.endsWith('.partial') && done.position === target.position && done.timeline === target.timeline) return false;
  if (done.timeline !== target.timeline) return done.timeline > target.timeline && done.position >= target.position;
  return done.position >= target.position;
}
