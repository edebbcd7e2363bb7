// Pure logic of the slice table: filtering by words and numeric conditions, and sorting.

const CONDITION = /^([a-z_]+)\s*(<=|>=|<|>|=)\s*(-?[0-9.]+)$/i;
const ALIASES = { n: "n_images", prob: "text_prob", acc: "image_acc" };

/**
 * Parse a filter: words match attribute values (all must match), conditions such as
 * `text_prob<0.5` or `n>=20` compare numbers. Returns {words, conditions, errors}.
 */
export function parseFilter(query) {
  const words = [];
  const conditions = [];
  const errors = [];
  for (const token of String(query || "").trim().split(/\s+/).filter(Boolean)) {
    const m = CONDITION.exec(token);
    if (m) conditions.push({ column: ALIASES[m[1].toLowerCase()] || m[1].toLowerCase(), op: m[2], value: Number(m[3]) });
    else if (/[<>=]/.test(token)) errors.push(`cannot read "${token}": write e.g. text_prob<0.5 or n>=20`);
    else words.push(token.toLowerCase());
  }
  return { words, conditions, errors };
}

const OPS = { "<": (a, b) => a < b, ">": (a, b) => a > b, "<=": (a, b) => a <= b, ">=": (a, b) => a >= b, "=": (a, b) => a === b };

/** Rows that pass a parsed filter. A row is {values: {type: value}, <numeric columns>}. */
export function filterRows(rows, filter) {
  return rows.filter((row) => {
    const values = Object.values(row.values || {}).map((v) => String(v).toLowerCase());
    if (!filter.words.every((w) => values.some((v) => v.includes(w)))) return false;
    return filter.conditions.every((c) => {
      const v = row[c.column];
      return typeof v === "number" && OPS[c.op](v, c.value);
    });
  });
}

/** Rows sorted by a numeric column or an attribute type; missing values always last. Stable. */
export function sortRows(rows, key, descending = false) {
  const valueOf = (row) => (key in (row.values || {}) ? row.values[key] : row[key]);
  const sign = descending ? -1 : 1;
  return rows
    .map((row, i) => ({ row, i, v: valueOf(row) }))
    .sort((a, b) => {
      const am = a.v === null || a.v === undefined || Number.isNaN(a.v);
      const bm = b.v === null || b.v === undefined || Number.isNaN(b.v);
      if (am || bm) return am === bm ? a.i - b.i : am ? 1 : -1;
      const c = typeof a.v === "number" && typeof b.v === "number" ? a.v - b.v : String(a.v).localeCompare(String(b.v));
      return c ? sign * c : a.i - b.i;
    })
    .map((x) => x.row);
}
