// A safe markdown subset rendered straight into DOM nodes.
//
// Supported: **bold**, *italic* / _italic_, ~~strike~~, `inline code`, ``` code blocks ```,
// "> " quotes, [text](url) links and bare http(s)/mailto links, @mentions.
// User text only ever becomes text nodes (never innerHTML), and a link is only made
// for http:, https: and mailto: URLs, opened with rel="noopener noreferrer".

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
/** Nesting depth for emphasis inside emphasis; deeper markers stay as text. */
const MAX_DEPTH = 4;
const USERNAME = "[A-Za-z0-9_.\\-]{3,32}";
const MENTION_RE = new RegExp(`@(${USERNAME})`, "y");
const MENTION_SCAN_RE = new RegExp(`(^|[^A-Za-z0-9_.\\-])@(${USERNAME})`, "g");
// Bare links stop before trailing punctuation that usually ends the sentence.
const URL_RE = /(?:https?:\/\/|mailto:)[^\s<>]*[^\s<>.,:;"'!?)\]}]/y;
/** Characters where an inline construct may start. */
const INLINE_START = "[`*_~[@hm]";

/** The URL if it is safe to link to, else null (javascript:, data:, vbscript:, relative...). */
export function safeUrl(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

function link(href, children) {
  const a = document.createElement("a");
  a.href = href;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  a.title = href;
  a.append(...children);
  return a;
}

function wrap(tag, children) {
  const el = document.createElement(tag);
  el.append(...children);
  return el;
}

function isWordChar(ch) {
  return ch !== undefined && /[A-Za-z0-9]/.test(ch);
}

/** Try each inline construct at `pos`; return {node, end} or null. */
function matchAt(text, pos, ctx, depth) {
  const ch = text[pos];
  const sticky = (re) => {
    re.lastIndex = pos;
    return re.exec(text);
  };
  if (ch === "`") {
    const m = sticky(/(`+)([^\n]*?[^`\n]|[^`\n])\1(?!`)/y);
    if (m) return { node: wrap("code", [document.createTextNode(m[2])]), end: pos + m[0].length };
    return null;
  }
  if (depth >= MAX_DEPTH && (ch === "*" || ch === "_" || ch === "~" || ch === "[")) return null;
  if (ch === "*") {
    const bold = sticky(/\*\*(?=\S)([\s\S]*?\S)\*\*/y);
    if (bold) return { node: wrap("strong", inline(bold[1], ctx, depth + 1)), end: pos + bold[0].length };
    const em = sticky(/\*(?=[^\s*])([\s\S]*?[^\s*])\*(?!\*)/y);
    if (em) return { node: wrap("em", inline(em[1], ctx, depth + 1)), end: pos + em[0].length };
    return null;
  }
  if (ch === "_") {
    if (isWordChar(text[pos - 1])) return null; // snake_case stays as text
    const em = sticky(/_(?=[^\s_])([\s\S]*?[^\s_])_(?![A-Za-z0-9])/y);
    if (em) return { node: wrap("em", inline(em[1], ctx, depth + 1)), end: pos + em[0].length };
    return null;
  }
  if (ch === "~") {
    const del = sticky(/~~(?=\S)([\s\S]*?\S)~~/y);
    if (del) return { node: wrap("del", inline(del[1], ctx, depth + 1)), end: pos + del[0].length };
    return null;
  }
  if (ch === "[") {
    const m = sticky(/\[([^\]\n]{1,500})\]\(([^()\s]{1,2048})\)/y);
    if (!m) return null;
    const href = safeUrl(m[2]);
    if (!href) return null; // rendered as the literal text it is
    return { node: link(href, inline(m[1], { ...ctx, inLink: true }, depth + 1)), end: pos + m[0].length };
  }
  if (ch === "@") {
    if (isWordChar(text[pos - 1])) return null; // an e-mail address, not a mention
    const m = sticky(MENTION_RE);
    if (!m) return null;
    const name = m[1].replace(/[.\-]+$/, "");
    const span = document.createElement("span");
    span.className = "mention";
    if (ctx.me && name.toLowerCase() === ctx.me.toLowerCase()) span.classList.add("mention-me");
    span.dataset.username = name;
    span.textContent = `@${name}`;
    return { node: span, end: pos + 1 + name.length };
  }
  if ((ch === "h" || ch === "m") && !ctx.inLink && !isWordChar(text[pos - 1])) {
    const m = sticky(URL_RE);
    if (!m) return null;
    let raw = m[0];
    // Keep a closing parenthesis that balances one in the URL (wiki/Foo_(bar)).
    while (text[pos + raw.length] === ")" && (raw.match(/\(/g) || []).length > (raw.match(/\)/g) || []).length) {
      raw += ")";
    }
    const href = safeUrl(raw);
    if (!href) return null;
    return { node: link(href, [document.createTextNode(raw)]), end: pos + raw.length };
  }
  return null;
}

/** Inline markdown of one paragraph/quote line group -> array of nodes. */
export function inline(text, ctx = {}, depth = 0) {
  const nodes = [];
  let plainStart = 0;
  const scanner = new RegExp(INLINE_START, "g");
  let m;
  while ((m = scanner.exec(text)) !== null) {
    const pos = m.index;
    const hit = matchAt(text, pos, ctx, depth);
    if (!hit) continue;
    if (pos > plainStart) nodes.push(document.createTextNode(text.slice(plainStart, pos)));
    nodes.push(hit.node);
    plainStart = hit.end;
    scanner.lastIndex = hit.end;
  }
  if (plainStart < text.length) nodes.push(document.createTextNode(text.slice(plainStart)));
  return withLineBreaks(nodes);
}

/** Text nodes containing "\n" become text + <br> + text. */
function withLineBreaks(nodes) {
  const out = [];
  for (const node of nodes) {
    if (node.nodeType !== Node.TEXT_NODE || !node.data.includes("\n")) {
      out.push(node);
      continue;
    }
    node.data.split("\n").forEach((part, i) => {
      if (i > 0) out.push(document.createElement("br"));
      if (part) out.push(document.createTextNode(part));
    });
  }
  return out;
}

/** Split the message into blocks: code fences, quotes and paragraphs. */
export function blocks(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let para = [];
  const flush = () => {
    if (para.length) out.push({ type: "p", text: para.join("\n") });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const single = /^\s*```(.*[^`].*)```\s*$/.exec(line);
    if (single) {
      flush();
      out.push({ type: "code", lang: "", text: single[1] });
      continue;
    }
    const fence = /^\s*```(.*)$/.exec(line);
    if (fence) {
      // ```lang, then code lines up to a closing ``` (or the end of the message).
      const info = fence[1].trim();
      const lang = /^[A-Za-z0-9_+\-.#]{1,20}$/.test(info) ? info : "";
      const body = info && !lang ? [fence[1]] : [];
      let j = i + 1;
      while (j < lines.length && !/^\s*```\s*$/.test(lines[j])) body.push(lines[j++]);
      flush();
      out.push({ type: "code", lang, text: body.join("\n") });
      i = j;
      continue;
    }
    const quote = /^>\s?(.*)$/.exec(line);
    if (quote) {
      flush();
      const last = out[out.length - 1];
      if (last && last.type === "quote" && last.open) last.text += `\n${quote[1]}`;
      else out.push({ type: "quote", text: quote[1], open: true });
      continue;
    }
    const lastBlock = out[out.length - 1];
    if (lastBlock && lastBlock.type === "quote") lastBlock.open = false;
    para.push(line);
  }
  flush();
  return out;
}

/**
 * Render message text to a DocumentFragment. `ctx.me` highlights mentions of the reader.
 */
export function renderMarkdown(text, ctx = {}) {
  const frag = document.createDocumentFragment();
  for (const block of blocks(text)) {
    if (block.type === "code") {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (block.lang) code.dataset.lang = block.lang;
      code.textContent = block.text;
      pre.append(code);
      frag.append(pre);
    } else if (block.type === "quote") {
      frag.append(wrap("blockquote", inline(block.text, ctx)));
    } else {
      const p = document.createElement("p");
      p.append(...inline(block.text, ctx));
      frag.append(p);
    }
  }
  return frag;
}

/** Usernames mentioned in a text (lower case), for notifications and mention badges. */
export function mentionedNames(text) {
  const names = new Set();
  for (const m of text.matchAll(MENTION_SCAN_RE)) names.add(m[2].replace(/[.\-]+$/, "").toLowerCase());
  return names;
}

/** Plain text for notifications and the screen-reader announcer (markers stripped). */
export function plainText(text) {
  return text
    .replace(/```[\s\S]*?```/g, "[code]")
    .replace(/[*_~`]/g, "")
    .replace(/\s+/g, " ")
    .trim();
}
