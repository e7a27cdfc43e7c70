/**
 * Geographic positions between platforms and Matrix: `geo:` URIs (RFC 5870) as `m.location`
 * carries them, read strictly and written in plain decimal notation.
 */

/** A position on the WGS 84 globe, as platforms and `m.location` know it. */
export interface GeoPoint {
  /** Degrees, -90..90. */
  lat: number;
  /** Degrees, -180..180. */
  lon: number;
  /** Uncertainty radius in metres (`;u=` in a geo URI). */
  accuracyM?: number;
}

/** Longest geo URI read: a real one is under 100 characters. */
const MAX_URI = 256;
const DECIMAL = /^-?\d{1,3}(\.\d{1,20})?$/;
const ALTITUDE = /^-?\d{1,10}(\.\d{1,20})?$/;
const PARAM = /^([a-zA-Z0-9-]{1,32})(?:=([\x21-\x7e]{0,64}))?$/;

/** True for numbers that are degrees in range. */
export function validPoint(lat: unknown, lon: unknown): boolean {
  return (
    typeof lat === "number" &&
    typeof lon === "number" &&
    Number.isFinite(lat) &&
    Number.isFinite(lon) &&
    Math.abs(lat) <= 90 &&
    Math.abs(lon) <= 180
  );
}

/**
 * Reads a `geo:lat,lon[,alt][;crs=wgs84][;u=metres][;…]` URI; undefined for anything else
 * (another coordinate system, numbers out of range, exponents, junk). Never throws.
 */
export function parseGeoUri(uri: unknown): GeoPoint | undefined {
  if (typeof uri !== "string" || uri.length > MAX_URI) return undefined;
  if (uri.slice(0, 4).toLowerCase() !== "geo:") return undefined;
  const [coords, ...params] = uri.slice(4).split(";");
  const nums = coords!.split(",");
  if (nums.length !== 2 && nums.length !== 3) return undefined;
  const [la, lo, alt] = nums as [string, string, string | undefined];
  if (!DECIMAL.test(la) || !DECIMAL.test(lo)) return undefined;
  if (alt !== undefined && !ALTITUDE.test(alt)) return undefined;
  const lat = Number(la);
  const lon = Number(lo);
  if (!validPoint(lat, lon)) return undefined;
  const point: GeoPoint = { lat, lon };
  const seen = new Set<string>();
  for (const p of params) {
    const m = PARAM.exec(p);
    if (!m) return undefined;
    const name = m[1]!.toLowerCase();
    if (seen.has(name)) return undefined;
    seen.add(name);
    const value = m[2];
    if (name === "crs") {
      if (value?.toLowerCase() !== "wgs84") return undefined;
    } else if (name === "u") {
      if (value === undefined || !/^\d{1,9}(\.\d{1,20})?$/.test(value)) return undefined;
      point.accuracyM = Number(value);
    }
  }
  return point;
}

/** A number of degrees or metres in decimal notation (never `1e-7`), at most 7 decimals. */
export function decimal(n: number): string {
  const s = n.toFixed(7).replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s;
}

/** `geo:lat,lon` with `;u=` when the accuracy is known; the point must be valid. */
export function geoUri(p: GeoPoint): string {
  const u =
    p.accuracyM !== undefined && Number.isFinite(p.accuracyM) && p.accuracyM >= 0
      ? `;u=${decimal(p.accuracyM)}`
      : "";
  return `geo:${decimal(p.lat)},${decimal(p.lon)}${u}`;
}
