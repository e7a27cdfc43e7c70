import assert from "node:assert/strict";
import fc from "fast-check";
import { decimal, geoUri, parseGeoUri } from "../../../src/core/geo";
import {
  locationContent,
  MAX_POLL_ANSWERS,
  POLL_START,
  pollStartContent,
} from "../../../src/core/richContent";
import { fuzzParams } from "../../harness/fuzz";

describe("geo URIs (RFC 5870) and rich Matrix content", () => {
  it("reads the geo URIs Matrix clients send", () => {
    assert.deepEqual(parseGeoUri("geo:52.52,13.405"), { lat: 52.52, lon: 13.405 });
    assert.deepEqual(parseGeoUri("geo:-33.8568,151.2153;u=35"), {
      lat: -33.8568,
      lon: 151.2153,
      accuracyM: 35,
    });
    assert.deepEqual(parseGeoUri("GEO:0,0,120.5;crs=WGS84;u=2.5;foo=bar"), {
      lat: 0,
      lon: 0,
      accuracyM: 2.5,
    });
    assert.deepEqual(parseGeoUri("geo:90,-180"), { lat: 90, lon: -180 });
  });

  it("refuses anything else without throwing", () => {
    for (const bad of [
      undefined,
      42,
      {},
      "",
      "geo:",
      "geo:52.52",
      "geo:91,0",
      "geo:0,180.0001",
      "geo:1e1,2",
      "geo:0x10,2",
      "geo:NaN,1",
      "geo:Infinity,1",
      "geo:1,2,3,4",
      "geo: 1,2",
      "geo:1,2;crs=utm",
      "geo:1,2;u=-5",
      "geo:1,2;u=",
      "geo:1,2;u=1;u=2",
      "geo:1,2;;",
      "geo:1,,2",
      "https://maps.example/?q=1,2",
      `geo:1,2;x=${"a".repeat(300)}`,
    ])
      assert.equal(parseGeoUri(bad), undefined, JSON.stringify(bad));
  });

  it("writes plain decimals and the accuracy", () => {
    assert.equal(geoUri({ lat: 52.52, lon: 13.405 }), "geo:52.52,13.405");
    assert.equal(geoUri({ lat: 1e-7, lon: -0.00000001, accuracyM: 15 }), "geo:0.0000001,0;u=15");
    assert.equal(decimal(-0), "0");
  });

  it("property: parse never throws, every point read is in range; written URIs read back", () => {
    const junk = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc
        .tuple(
          fc.constantFrom("geo:", "GEO:", "geo", "geo:-", ""),
          fc.array(
            fc.oneof(
              fc.double().map(String),
              fc.integer().map(String),
              fc.constantFrom(",", ";", "u=", "crs=wgs84", "=", ".", "-", "e5", " ", "\u0000"),
            ),
            { maxLength: 12 },
          ),
        )
        .map(([p, xs]) => p + xs.join("")),
      fc.anything(),
    );
    fc.assert(
      fc.property(junk, (u) => {
        const p = parseGeoUri(u);
        if (p === undefined) return;
        assert.ok(Math.abs(p.lat) <= 90 && Math.abs(p.lon) <= 180, JSON.stringify(u));
        assert.ok(p.accuracyM === undefined || (p.accuracyM >= 0 && Number.isFinite(p.accuracyM)));
      }),
      fuzzParams(3000),
    );
    const point = fc.record(
      {
        lat: fc.double({ min: -90, max: 90, noNaN: true }),
        lon: fc.double({ min: -180, max: 180, noNaN: true }),
        accuracyM: fc.double({ min: 0, max: 1e6, noNaN: true }),
      },
      { requiredKeys: ["lat", "lon"] },
    );
    fc.assert(
      fc.property(point, (p) => {
        const uri = geoUri(p);
        const back = parseGeoUri(uri);
        assert.ok(back, uri);
        assert.ok(Math.abs(back.lat - p.lat) <= 1e-7 && Math.abs(back.lon - p.lon) <= 1e-7, uri);
        if (p.accuracyM !== undefined) assert.ok(Math.abs(back.accuracyM! - p.accuracyM) <= 1e-7, uri);
      }),
      fuzzParams(2000),
    );
  });

  it("property: m.location and poll content never throw, stay in range and bounded", () => {
    const num = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0),
    );
    fc.assert(
      fc.property(
        fc.record({ lat: num, lon: num, accuracyM: fc.option(num), description: fc.option(fc.string()) }),
        fc.string({ maxLength: 100 }),
        (loc, body) => {
          const c = locationContent(body, loc as never);
          if (c === undefined) return;
          const p = parseGeoUri(c.geo_uri);
          assert.ok(p, String(c.geo_uri));
          assert.equal(c.msgtype, "m.location");
          assert.ok(String(c.geo_uri).length < 100);
        },
      ),
      fuzzParams(2000),
    );
    const answer = fc.record({
      id: fc.oneof(fc.string(), fc.anything()),
      text: fc.oneof(fc.string(), fc.anything()),
    });
    fc.assert(
      fc.property(
        fc.record({
          question: fc.oneof(fc.string({ maxLength: 3000 }), fc.anything()),
          answers: fc.oneof(fc.array(answer, { maxLength: 40 }), fc.anything()),
          disclosed: fc.boolean(),
          maxSelections: fc.oneof(fc.integer(), fc.double()),
        }),
        (poll) => {
          const c = pollStartContent("fallback", poll as never);
          if (c === undefined) return;
          const start = c[POLL_START] as { answers: Array<{ id: string }>; max_selections: number };
          assert.ok(start.answers.length >= 1 && start.answers.length <= MAX_POLL_ANSWERS);
          assert.equal(new Set(start.answers.map((a) => a.id)).size, start.answers.length);
          assert.ok(start.max_selections >= 1 && start.max_selections <= start.answers.length);
          assert.ok(JSON.stringify(c).length < 30_000);
        },
      ),
      fuzzParams(1000),
    );
  });
});
