import { deflateSync } from "node:zlib";

/** A small valid PDF: one page per text, Helvetica, each content stream optionally Flate-compressed. */
export function makePdf(pages: string[], opts: { compress?: boolean } = {}): Buffer {
  const objs: Buffer[] = [];
  const add = (b: string | Buffer) => objs.push(Buffer.isBuffer(b) ? b : Buffer.from(b, "latin1"));
  const n = pages.length;
  const kids = pages.map((_, i) => `${3 + i * 2} 0 R`).join(" ");
  add("<< /Type /Catalog /Pages 2 0 R >>");
  add(`<< /Type /Pages /Kids [${kids}] /Count ${n} >>`);
  const font = 3 + n * 2;
  pages.forEach((text, i) => {
    add(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${4 + i * 2} 0 R /Resources << /Font << /F1 ${font} 0 R >> >> >>`,
    );
    const esc = text.replace(/[\\()]/g, (c) => `\\${c}`);
    const raw = Buffer.from(`BT /F1 12 Tf 72 720 Td (${esc}) Tj ET`, "latin1");
    const body = opts.compress ? deflateSync(raw) : raw;
    const dict = opts.compress
      ? `<< /Length ${body.length} /Filter /FlateDecode >>`
      : `<< /Length ${body.length} >>`;
    add(
      Buffer.concat([Buffer.from(`${dict}\nstream\n`, "latin1"), body, Buffer.from("\nendstream", "latin1")]),
    );
  });
  add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  const parts: Buffer[] = [Buffer.from("%PDF-1.4\n", "latin1")];
  const offsets: number[] = [];
  let at = parts[0]!.length;
  objs.forEach((o, i) => {
    offsets.push(at);
    const b = Buffer.concat([
      Buffer.from(`${i + 1} 0 obj\n`, "latin1"),
      o,
      Buffer.from("\nendobj\n", "latin1"),
    ]);
    parts.push(b);
    at += b.length;
  });
  const xref = [
    `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`,
    ...offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`),
  ].join("");
  parts.push(
    Buffer.from(
      `${xref}trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${at}\n%%EOF\n`,
      "latin1",
    ),
  );
  return Buffer.concat(parts);
}
