/** GPU id lists as written by a person: "0,1,2,3" or ranges such as "0-7" or "0-3,6". */
export const GPU_IDS = /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/;

/** "0-3,6" -> "0,1,2,3,6": every consumer (Docker's DeviceIDs, CUDA_VISIBLE_DEVICES) wants plain ids. */
export function expandGpuIds(v: string): string {
  const ids: number[] = [];
  for (const part of v.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    const hi = b ?? a;
    for (let i = Math.min(a, hi); i <= Math.max(a, hi); i++) if (!ids.includes(i)) ids.push(i);
  }
  return ids.join(',');
}
