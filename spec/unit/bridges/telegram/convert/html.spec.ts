import assert from "node:assert/strict";
import { Parser } from "htmlparser2";
import { escapeHtml, matrixToTelegramHtml } from "../../../../../bridges/telegram/convert/html";
import { GHOST_42, pillToTelegramUser } from "./fixtures";

/** Every tag in `out` is closed explicitly and in order: nothing left for a parser to imply. */
function assertBalanced(out: string, input: string): void {
  const open: string[] = [];
  const parser = new Parser({
    onopentag: (name) => open.push(name),
    onclosetag: (name, implied) => {
      assert.equal(implied, false, `implied </${name}>: ${input} → ${out}`);
      assert.equal(open.pop(), name, `${input} → ${out}`);
    },
  });
  parser.end(out);
  assert.deepEqual(open, [], `${input} → ${out}`);
}

const html = (formatted_body: string, body = "fallback body") =>
  matrixToTelegramHtml({ body, format: "org.matrix.custom.html", formatted_body }, { pillToTelegramUser });

/** Matrix formatted_body → expected Telegram HTML. */
const CASES: [string, string, string][] = [
  [
    "normalises tag names",
    "<strong>b</strong><em>i</em><ins>u</ins><strike>s</strike> <del>d</del>",
    "<b>b</b><i>i</i><u>u</u><s>s</s> <s>d</s>",
  ],
  ["touching spans of one kind are one", "<strike>s</strike><del>d</del>", "<s>sd</s>"],
  [
    "spoiler with a reason",
    '<span data-mx-spoiler="plot">Snape</span> kills',
    "<tg-spoiler>Snape</tg-spoiler> kills",
  ],
  ["Element line breaks", "line1<br />\nline2<br/>line3", "line1\nline2\nline3"],
  ["paragraphs", "<p>one</p>\n<p>two</p>", "one\n\ntwo"],
  ["unordered list", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n", "• one\n• two"],
  ["ordered list with start", '<ol start="3"><li>c</li><li>d</li></ol>', "3. c\n4. d"],
  [
    "loose list (paragraphs in items)",
    "<ul>\n<li>\n<p>one</p>\n</li>\n<li>\n<p>two</p>\n</li>\n</ul>",
    "• one\n• two",
  ],
  ["nested list", "<ul><li>a<ul><li>a1</li></ul></li><li>b</li></ul>", "• a\n  • a1\n• b"],
  ["text around a list", "<p>Todo:</p><ul><li>x</li></ul><p>done</p>", "Todo:\n\n• x\n\ndone"],
  ["heading becomes a bold line", "<h1>Title</h1>\n<p>Body</p>", "<b>Title</b>\nBody"],
  [
    "reply fallback removed",
    '<mx-reply><blockquote><a href="https://matrix.to/#/!r:hs/$e">In reply to</a> <a href="https://matrix.to/#/@bob:hs">@bob:hs</a><br>orig</blockquote></mx-reply>my answer',
    "my answer",
  ],
  [
    "ghost pill → tg mention",
    `<a href="https://matrix.to/#/${GHOST_42}">Alice Smith</a>: hi`,
    '<a href="tg://user?id=42">Alice Smith</a>: hi',
  ],
  [
    "percent-encoded ghost pill",
    '<a href="https://matrix.to/#/%40_telegram_42%3Aexample.org">Alice</a>',
    '<a href="tg://user?id=42">Alice</a>',
  ],
  [
    "empty ghost pill gets the Telegram name",
    `<a href="https://matrix.to/#/${GHOST_42}"></a> look`,
    '<a href="tg://user?id=42">Alice Smith</a> look',
  ],
  ["other user pill → its text", '<a href="https://matrix.to/#/@bob:example.org">Bob</a>: hi', "Bob: hi"],
  [
    "room pill → its text",
    '<a href="https://matrix.to/#/#room:example.org">#room:example.org</a>',
    "#room:example.org",
  ],
  [
    "event permalink stays a link",
    '<a href="https://matrix.to/#/!r:hs/$ev?via=hs">this</a>',
    '<a href="https://matrix.to/#/!r:hs/$ev?via=hs">this</a>',
  ],
  [
    "link attribute escaped",
    '<a href="https://e.org/?a=1&amp;b=&quot;2&quot;">q</a>',
    '<a href="https://e.org/?a=1&amp;b=&quot;2&quot;">q</a>',
  ],
  [
    "unsupported tags keep their text",
    '<font color="red">red</font> x<sup>2</sup> <span data-mx-color="#f00">c</span>',
    "red x2 c",
  ],
  ["no formatting inside code", "<code><b>x</b> &lt;y&gt;</code>", "<code>x &lt;y&gt;</code>"],
  [
    "code block loses its final newline",
    '<pre><code class="language-js">a();\nb();\n</code></pre>\n',
    '<pre><code class="language-js">a();\nb();</code></pre>',
  ],
  ["tags inside pre dropped", "<pre><code>x <b>y</b>\n</code></pre>", "<pre>x y</pre>"],
  [
    "nested blockquote flattened",
    "<blockquote>a<blockquote>b</blockquote></blockquote>",
    "<blockquote>a\nb</blockquote>",
  ],
  [
    "emote image → alt text",
    '<img data-mx-emoticon src="mxc://hs/abc" alt=":party:" height="32"> yay',
    ":party: yay",
  ],
  [
    "character references decoded then re-escaped",
    "&lt;tag&gt; &amp;amp; &#39;&#x41;&nbsp;&bogus;",
    "&lt;tag&gt; &amp;amp; 'A\u00a0&amp;bogus;",
  ],
  [
    "table cells",
    "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>",
    "k | v\na | 1",
  ],
  ["comments vanish", "a<!-- hidden <b> -->b", "ab"],
  ["a character reference past Unicode is U+FFFD", "x &#99999999; &#0; y", "x \ufffd \ufffd y"],
  [
    "a malformed % in a pill keeps its label",
    '<a href="https://matrix.to/#/@bob%zz:hs">Bob</a> <a href="https://matrix.to/#/%">%</a>',
    'Bob <a href="https://matrix.to/#/%">%</a>',
  ],
  [
    "a code block in a list item keeps its lines as written",
    "<ul><li>a<pre><code>x\n  y\n</code></pre></li></ul>",
    "• a\n  <pre>x\n  y</pre>",
  ],
  [
    "ordered list nested in a quote",
    "<blockquote><ol><li>a<ol><li>b</li></ol></li></ol></blockquote>",
    "<blockquote>1. a\n  1. b</blockquote>",
  ],
];

describe("telegram convert: Matrix HTML → Telegram HTML", () => {
  for (const [name, input, expected] of CASES) {
    it(name, () => assert.equal(html(input), expected));
  }

  it("escapes a plain body", () => {
    assert.equal(
      matrixToTelegramHtml({ body: 'a <b> & "c"' }, { pillToTelegramUser }),
      "a &lt;b&gt; &amp; &quot;c&quot;",
    );
  });

  it("ignores formatted_body in another format", () => {
    const content = { body: "<b>x</b>", format: "org.example.other", formatted_body: "<b>x</b>" };
    assert.equal(matrixToTelegramHtml(content, { pillToTelegramUser }), "&lt;b&gt;x&lt;/b&gt;");
  });

  it("falls back to the body when the HTML has no visible text", () => {
    assert.equal(html("<mx-reply><blockquote>quoted</blockquote></mx-reply>", "the body"), "the body");
  });

  describe("malformed and hostile HTML", () => {
    it("closes an unclosed tag", () => assert.equal(html("<b>unclosed"), "<b>unclosed</b>"));
    it("closes what a mismatched close tag skips", () =>
      assert.equal(html("<b><i>x</b>y</i>"), "<b><i>x</i></b>y"));
    it("ignores stray close tags", () => assert.equal(html("</b></i>text"), "text"));
    it("drops script and style with their content", () => {
      assert.equal(html("<script>alert(1)</script>hi<style>b{}</style>"), "hi");
      assert.equal(html("<SCRIPT>alert(1)"), "fallback body");
    });
    it("drops javascript: and other unsafe links, keeping the text", () => {
      assert.equal(html('<a href="javascript:alert(1)">x</a>'), "x");
      assert.equal(html('<a href="java&#x09;script:alert(1)">y</a>'), "y");
      assert.equal(html('<a href=" JAVASCRIPT:alert(1)">z</a>'), "z");
      assert.equal(html('<a href="data:text/html,hi">d</a>'), "d");
      assert.equal(html('<a href="/relative">r</a>'), "r");
    });
    it("keeps a lone < as text", () => {
      assert.equal(html("a < b <3 <<>> c"), "a &lt; b &lt;3 &lt;&lt;&gt;&gt; c");
    });
    it("drops a tag left unterminated at the end, as the sender's client does", () => {
      assert.equal(html("a < b <3 <<>> <a href=x"), "a &lt; b &lt;3 &lt;&lt;&gt;&gt;");
    });
    it("never throws and always balances tags on random input", () => {
      const pieces = [
        "<b>",
        "</b>",
        "<i>",
        "</i>",
        "<pre>",
        "</pre>",
        "<code>",
        "</code>",
        '<a href="https://x">',
        "</a>",
        "<blockquote>",
        "</blockquote>",
        "<li>",
        "<ul>",
        "</ul>",
        "<br>",
        "<",
        ">",
        "&",
        "&amp",
        '"',
        "'",
        "x",
        "\n",
        "<mx-reply>",
        "</mx-reply>",
        "<span data-mx-spoiler>",
        "</span>",
        "<script>",
        "<a href='javascript:x'>",
        "<!--",
        "-->",
      ];
      let seed = 12345;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      for (let round = 0; round < 500; round++) {
        let input = "";
        for (let k = rand(30); k > 0; k--) input += pieces[rand(pieces.length)];
        const out = html(input);
        assert.doesNotMatch(out, /<script|javascript:/i, input);
        assertBalanced(out, input);
      }
    });
  });

  it("escapeHtml escapes the four characters Telegram and Matrix care about", () => {
    assert.equal(escapeHtml(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;'&lt;/a&gt;");
  });
});
