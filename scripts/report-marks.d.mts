/** The problems of every chart in `html`, one line each; none when every mark has a size. */
export function undrawnMarks(html: string): string[];
