/**
 * `<clearance-chat>`: the customer chat widget a bank embeds in its pages.
 *
 *   <script src="https://clearance.bank.example/widget.js"></script>
 *   <clearance-chat api-url="https://clearance.bank.example" heading="Ask Harbor Federal"></clearance-chat>
 *   and, from the page's own script:
 *   document.querySelector("clearance-chat").getToken = async ({ refresh }) => currentCustomerToken(refresh);
 *
 * Everything lives in a shadow root, so the bank's styles do not leak in and the widget's do not leak
 * out. Answers, passage titles and every other text from the server are set with `textContent`, never as
 * HTML: passages are written by many authors and answers by models. It uses the public API like any
 * client; the token comes from the page, is kept only in this call's memory, and only travels in the
 * Authorization header.
 */
import {
  type AnswerEnd,
  askStreaming,
  type CitationView,
  numberCitations,
  type PassageView,
  plainWords,
} from "../shared/answer-client.ts";

/** The page's source of the customer's current token; `refresh` asks for a new one (after a 401). */
export type TokenSource = (options: { readonly refresh: boolean }) => Promise<string> | string;

const STYLE = `
:host { all: initial; display: block; font: 15px/1.45 system-ui, sans-serif; color: #1b1f24; }
.panel { border: 1px solid #c8ced6; border-radius: 10px; padding: 14px; background: #fff; max-width: 34rem; }
h2 { font-size: 1.05rem; margin: 0 0 10px; }
form { display: flex; gap: 8px; align-items: flex-end; flex-wrap: wrap; }
label { display: block; font-weight: 600; margin-bottom: 4px; width: 100%; }
textarea { flex: 1 1 16rem; min-height: 2.6rem; font: inherit; padding: 6px 8px; border: 1px solid #8a949f; border-radius: 6px; }
button { font: inherit; padding: 7px 14px; border-radius: 6px; border: 1px solid #0b5cad; background: #0b5cad; color: #fff; cursor: pointer; }
button[disabled] { opacity: .6; cursor: progress; }
:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.answer { white-space: pre-wrap; margin: 12px 0 6px; min-height: 1.4em; }
.answer sup { color: #0b5cad; font-weight: 600; }
.status { color: #8a1c1c; margin: 8px 0 0; }
.status:empty, .sources:empty, .answer:empty { display: none; }
.incomplete { color: #8a5a00; font-style: italic; }
ol { margin: 6px 0 0; padding-left: 1.4rem; font-size: .92rem; }
.sources-title { font-size: .9rem; font-weight: 600; margin: 10px 0 0; }
.sources-title[hidden] { display: none; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;

let sheet: CSSStyleSheet | undefined;
function styleSheet(): CSSStyleSheet {
  if (sheet === undefined) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
  }
  return sheet;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export class ClearanceChat extends HTMLElement {
  /** Set by the page: returns the customer's current token. */
  getToken: TokenSource | undefined;

  readonly #root: ShadowRoot;
  readonly #question: HTMLTextAreaElement;
  readonly #ask: HTMLButtonElement;
  readonly #answer: HTMLDivElement;
  readonly #status: HTMLParagraphElement;
  readonly #sourcesTitle: HTMLParagraphElement;
  readonly #sources: HTMLOListElement;
  readonly #headingNode: HTMLHeadingElement;
  #controller: AbortController | undefined;
  #passages: readonly PassageView[] = [];
  #text = "";

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.adoptedStyleSheets = [styleSheet()];
    const panel = element("section", { class: "panel", "aria-labelledby": "heading" });
    const heading = element("h2", { id: "heading" }, "Ask a question");
    const form = element("form");
    const label = element("label", { for: "question" }, "Your question");
    this.#question = element("textarea", { id: "question", name: "question", rows: "2", maxlength: "2000" });
    this.#ask = element("button", { type: "submit" }, "Ask");
    form.append(label, this.#question, this.#ask);
    // The live region: announced once the answer is complete (aria-busy while it streams), not per word.
    this.#answer = element("div", {
      class: "answer",
      role: "region",
      "aria-live": "polite",
      "aria-label": "Answer",
    });
    this.#status = element("p", { class: "status", role: "alert" });
    this.#sourcesTitle = element("p", { class: "sources-title", id: "sources-title", hidden: "" }, "Sources");
    this.#sources = element("ol", { class: "sources", "aria-labelledby": "sources-title" });
    panel.append(heading, form, this.#status, this.#answer, this.#sourcesTitle, this.#sources);
    this.#root.append(panel);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.ask(this.#question.value);
    });
    this.#question.addEventListener("keydown", (event) => {
      // Enter asks, Shift+Enter starts a new line: the usual chat convention.
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    this.#headingNode = heading;
  }

  static get observedAttributes(): string[] {
    return ["heading"];
  }

  attributeChangedCallback(name: string, _old: string | null, value: string | null): void {
    if (name === "heading") this.#headingNode.textContent = value || "Ask a question";
  }

  disconnectedCallback(): void {
    this.#controller?.abort();
  }

  /** Asks `query` as the page's customer and streams the answer into the widget. */
  async ask(query: string): Promise<AnswerEnd["kind"] | "no-token"> {
    const question = query.trim();
    if (question === "") {
      this.#status.textContent = "Please type a question first.";
      return "refused";
    }
    const apiUrl = this.getAttribute("api-url") ?? "";
    this.#controller?.abort();
    const controller = new AbortController();
    this.#controller = controller;
    this.#reset();
    this.#ask.disabled = true;
    this.#answer.setAttribute("aria-busy", "true");
    try {
      let end = await this.#askOnce(apiUrl, question, false, controller.signal);
      if (end === "no-token") return end;
      // An expired token: ask the page for a fresh one, once.
      if (end.kind === "refused" && end.status === 401) {
        this.#reset();
        end = await this.#askOnce(apiUrl, question, true, controller.signal);
        if (end === "no-token") return end;
      }
      if (end.kind === "done") this.#finish(end.answer, end.citations);
      else {
        if (end.kind === "withheld" || end.kind === "refused") this.#reset();
        if (end.kind === "incomplete")
          this.#answer.append(element("span", { class: "incomplete" }, " (incomplete)"));
        this.#status.textContent = plainWords(end);
      }
      return end.kind;
    } finally {
      this.#ask.disabled = false;
      this.#answer.setAttribute("aria-busy", "false");
    }
  }

  async #askOnce(
    apiUrl: string,
    query: string,
    refresh: boolean,
    signal: AbortSignal,
  ): Promise<AnswerEnd | "no-token"> {
    let token: string;
    try {
      token = this.getToken ? await this.getToken({ refresh }) : "";
    } catch {
      token = "";
    }
    if (!token) {
      this.#status.textContent = "Please sign in to ask a question.";
      return "no-token";
    }
    return askStreaming(
      apiUrl,
      token,
      { query },
      {
        onPassages: (passages) => {
          this.#passages = passages;
        },
        onText: (text) => {
          this.#text += text;
          this.#renderAnswer();
        },
      },
      signal,
    );
  }

  #reset(): void {
    this.#text = "";
    this.#passages = [];
    this.#answer.replaceChildren();
    this.#status.textContent = "";
    this.#sources.replaceChildren();
    this.#sourcesTitle.hidden = true;
  }

  #renderAnswer(): Map<string, number> {
    const numbers = new Map<string, number>();
    const known = new Set(this.#passages.map((passage) => passage.chunkId));
    const nodes = numberCitations(this.#text, known, numbers).map((piece) =>
      typeof piece === "string"
        ? document.createTextNode(piece)
        : element("sup", { "aria-label": `source ${piece.number}` }, `[${piece.number}]`),
    );
    this.#answer.replaceChildren(...nodes);
    return numbers;
  }

  #finish(answer: string, citations: readonly CitationView[]): void {
    this.#text = answer;
    const numbers = this.#renderAnswer();
    const ordered = [...citations].sort(
      (a, b) => (numbers.get(a.chunkId) ?? 1e9) - (numbers.get(b.chunkId) ?? 1e9),
    );
    for (const citation of ordered) {
      const item = element("li", {}, citation.title);
      const number = numbers.get(citation.chunkId);
      if (number !== undefined) item.setAttribute("value", String(number));
      this.#sources.append(item);
    }
    this.#sourcesTitle.hidden = ordered.length === 0;
  }
}

if (!customElements.get("clearance-chat")) customElements.define("clearance-chat", ClearanceChat);
