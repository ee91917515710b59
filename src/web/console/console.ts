/**
 * The staff console at /console: ask, read the streamed answer with numbered citations, open a cited
 * passage, list what the signed-in person may read. It uses the public API like any client, from
 * clearance's own origin. The token is kept in memory only (never in a URL, localStorage or a cookie):
 * in demo mode it comes from the person picker (`/demo/token`, loopback only); in production from the
 * bank's OpenID Connect provider (authorization code with PKCE, oidc-client-ts). Every text from the
 * server is set with `textContent`: passages, titles and answers are never HTML.
 */
import { InMemoryWebStorage, UserManager, WebStorageStateStore } from "oidc-client-ts";
import {
  type AnswerEnd,
  askStreaming,
  type CitationView,
  numberCitations,
  type PassageView,
  plainWords,
} from "../shared/answer-client.ts";

type SignIn =
  | { mode: "demo" }
  | { mode: "oidc"; authority: string; clientId: string; scope: string }
  | { mode: "none" };

interface Person {
  id: string;
  name: string;
  role: string;
}

interface DemoPeople {
  users: Person[];
  agents: Person[];
  showcase?: { sub: string; agents: string[]; label: string }[];
}

const README_QUESTION = "Is the Pier Street branch closing, and what happens to my safe deposit box?";

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

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

/** Where the current token comes from; `fresh` is called once after a 401 (the re-login path). */
interface Session {
  label: string;
  token: string;
  fresh(): Promise<string | undefined>;
}

let session: Session | undefined;
let userManager: UserManager | undefined;

async function demoToken(sub: string, agents: string[]): Promise<string> {
  const response = await fetch("/demo/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub, agents }),
    credentials: "omit",
  });
  if (!response.ok) throw new Error(`demo token refused (${response.status})`);
  return ((await response.json()) as { token: string }).token;
}

function setWho(text: string): void {
  byId("who").textContent = text;
}

async function startDemo(): Promise<DemoPeople | undefined> {
  const response = await fetch("/demo/people", { credentials: "omit" });
  if (!response.ok) {
    setWho("Demo sign-in is only available on this machine.");
    return undefined;
  }
  const people = (await response.json()) as DemoPeople;
  const person = byId<HTMLSelectElement>("person");
  for (const user of people.users)
    person.append(element("option", { value: user.id }, `${user.name}: ${user.role}`));
  const agent = byId<HTMLSelectElement>("agent");
  for (const a of people.agents) agent.append(element("option", { value: a.id }, a.name));
  const form = byId<HTMLFormElement>("demo-sign-in");
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sub = person.value;
    const agents = agent.value ? [agent.value] : [];
    const label = `${person.selectedOptions[0]?.textContent ?? sub}${agents.length ? `, through ${agent.selectedOptions[0]?.textContent}` : ""}`;
    try {
      const fresh = () => demoToken(sub, agents);
      session = { label, token: await fresh(), fresh };
      setWho(`Asking as ${label}.`);
    } catch {
      setWho("Could not get a demo token.");
    }
  });
  if (people.showcase && people.showcase.length > 0) {
    const compare = byId<HTMLButtonElement>("compare");
    compare.hidden = false;
    compare.addEventListener("click", () => void comparePeople(people.showcase ?? []));
  }
  return people;
}

async function startOidc(settings: Extract<SignIn, { mode: "oidc" }>): Promise<void> {
  userManager = new UserManager({
    authority: settings.authority,
    client_id: settings.clientId,
    redirect_uri: `${location.origin}/console`,
    response_type: "code",
    scope: settings.scope,
    // Tokens in memory only; the PKCE verifier and state survive the redirect in this tab's sessionStorage.
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    stateStore: new WebStorageStateStore({ store: sessionStorage }),
    automaticSilentRenew: false,
  });
  const manager = userManager;
  const signInButton = byId<HTMLButtonElement>("sign-in");
  const signOutButton = byId<HTMLButtonElement>("sign-out");
  byId("oidc-sign-in").hidden = false;
  signInButton.addEventListener("click", () => void manager.signinRedirect());
  signOutButton.addEventListener("click", () => {
    session = undefined;
    void manager.removeUser();
    setWho("Signed out.");
    signOutButton.hidden = true;
  });
  const params = new URLSearchParams(location.search);
  if (params.has("code") && params.has("state")) {
    try {
      const user = await manager.signinRedirectCallback();
      const label = String(user.profile.name ?? user.profile.sub);
      session = {
        label,
        token: user.access_token,
        // The re-login path: the provider's session usually signs the person straight back in.
        fresh: async () => {
          await manager.signinRedirect();
          return undefined;
        },
      };
      setWho(`Signed in as ${label}.`);
      signOutButton.hidden = false;
    } catch {
      setWho("Sign-in failed. Please try again.");
    } finally {
      // The authorization code never stays in the address bar or the history.
      history.replaceState(null, "", "/console");
    }
  }
}

/** Renders answer text with numbered citation markers; numbers are assigned by first appearance. */
function renderAnswer(
  target: HTMLElement,
  text: string,
  passages: readonly PassageView[],
  numbers: Map<string, number>,
  open?: (chunkId: string) => void,
): void {
  numbers.clear();
  const known = new Set(passages.map((passage) => passage.chunkId));
  const nodes = numberCitations(text, known, numbers).map((piece) => {
    if (typeof piece === "string") return document.createTextNode(piece);
    if (!open) return element("sup", {}, `[${piece.number}]`);
    const button = element(
      "button",
      { type: "button", class: "cite", "aria-label": `open source ${piece.number}` },
      `[${piece.number}]`,
    );
    button.addEventListener("click", () => open(piece.chunkId));
    return button;
  });
  target.replaceChildren(...nodes);
}

function orderedCitations(citations: readonly CitationView[], numbers: Map<string, number>): CitationView[] {
  return [...citations].sort((a, b) => (numbers.get(a.chunkId) ?? 1e9) - (numbers.get(b.chunkId) ?? 1e9));
}

/** One ask, with one retry on 401 after the session got a fresh token. */
async function askWithSession(
  current: Session,
  query: string,
  k: number,
  onPassages: (passages: readonly PassageView[]) => void,
  onText: (text: string) => void,
  reset: () => void,
): Promise<AnswerEnd> {
  let end = await askStreaming("", current.token, { query, k }, { onPassages, onText });
  if (end.kind === "refused" && end.status === 401) {
    const token = await current.fresh().catch(() => undefined);
    if (token === undefined) return end;
    current.token = token;
    reset();
    end = await askStreaming("", current.token, { query, k }, { onPassages, onText });
  }
  return end;
}

function openPassage(passage: PassageView | undefined, number: number | undefined): void {
  if (passage === undefined) return;
  const panel = byId("passage");
  byId("passage-title").textContent = `${number === undefined ? "" : `[${number}] `}${passage.title}`;
  byId("passage-source").textContent =
    `document ${passage.documentId}${passage.sectionId ? `, section ${passage.sectionId}` : ""}`;
  byId("passage-text").textContent = passage.text;
  panel.hidden = false;
  panel.focus();
}

async function ask(): Promise<void> {
  const status = byId("status");
  const answer = byId("answer");
  const list = byId("citations");
  const title = byId("citations-title");
  if (session === undefined) {
    status.textContent = "Sign in (or pick a person) first.";
    return;
  }
  const query = byId<HTMLTextAreaElement>("question").value.trim();
  if (query === "") {
    status.textContent = "Type a question first.";
    return;
  }
  const k = Number(byId<HTMLInputElement>("k").value) || 4;
  const button = byId<HTMLButtonElement>("ask");
  let passages: readonly PassageView[] = [];
  let text = "";
  const numbers = new Map<string, number>();
  const open = (chunkId: string) =>
    openPassage(
      passages.find((passage) => passage.chunkId === chunkId),
      numbers.get(chunkId),
    );
  const reset = () => {
    passages = [];
    text = "";
    answer.replaceChildren();
    list.replaceChildren();
    title.hidden = true;
    status.textContent = "";
    byId("passage").hidden = true;
  };
  reset();
  button.disabled = true;
  answer.setAttribute("aria-busy", "true");
  try {
    const end = await askWithSession(
      session,
      query,
      k,
      (received) => {
        passages = received;
      },
      (piece) => {
        text += piece;
        renderAnswer(answer, text, passages, numbers, open);
      },
      reset,
    );
    if (end.kind === "done") {
      renderAnswer(answer, end.answer, passages, numbers, open);
      for (const citation of orderedCitations(end.citations, numbers)) {
        const item = element("li");
        const number = numbers.get(citation.chunkId);
        if (number !== undefined) item.setAttribute("value", String(number));
        const link = element("button", { type: "button", class: "cite" }, citation.title);
        link.addEventListener("click", () => open(citation.chunkId));
        item.append(link);
        list.append(item);
      }
      title.hidden = end.citations.length === 0;
    } else {
      if (end.kind === "incomplete") answer.append(element("span", { class: "incomplete" }, " (incomplete)"));
      else answer.replaceChildren();
      status.textContent = plainWords(end);
    }
  } finally {
    button.disabled = false;
    answer.setAttribute("aria-busy", "false");
  }
}

/** Demo only: the same question asked as each showcase principal, side by side. */
async function comparePeople(showcase: { sub: string; agents: string[]; label: string }[]): Promise<void> {
  const query = byId<HTMLTextAreaElement>("question").value.trim() || README_QUESTION;
  const k = Number(byId<HTMLInputElement>("k").value) || 4;
  const grid = byId("comparison-grid");
  grid.replaceChildren();
  byId("comparison").hidden = false;
  await Promise.all(
    showcase.map(async (who) => {
      const article = element("article", {
        "data-principal": who.agents.length ? `${who.agents.join(">")}>${who.sub}` : who.sub,
      });
      const heading = element("h3", {}, who.label);
      const answer = element("div", { class: "answer", "aria-live": "polite", "aria-busy": "true" });
      const list = element("ol", { class: "citations" });
      article.append(heading, answer, list);
      grid.append(article);
      let passages: readonly PassageView[] = [];
      let text = "";
      const numbers = new Map<string, number>();
      try {
        const fresh = () => demoToken(who.sub, who.agents);
        const end = await askWithSession(
          { label: who.label, token: await fresh(), fresh },
          query,
          k,
          (received) => {
            passages = received;
          },
          (piece) => {
            text += piece;
            renderAnswer(answer, text, passages, numbers);
          },
          () => {
            text = "";
            answer.replaceChildren();
          },
        );
        if (end.kind === "done") {
          renderAnswer(answer, end.answer, passages, numbers);
          for (const citation of orderedCitations(end.citations, numbers)) {
            const item = element("li", {}, citation.title);
            item.dataset.documentId = citation.documentId;
            list.append(item);
          }
        } else answer.replaceChildren(element("p", { class: "status" }, plainWords(end)));
      } catch {
        answer.replaceChildren(element("p", { class: "status" }, "Could not get a demo token."));
      } finally {
        answer.setAttribute("aria-busy", "false");
      }
    }),
  );
}

async function listReadable(): Promise<void> {
  const status = byId("readable-status");
  const list = byId("readable");
  list.replaceChildren();
  status.textContent = "";
  if (session === undefined) {
    status.textContent = "Sign in (or pick a person) first.";
    return;
  }
  const get = (token: string) =>
    fetch("/v1/documents", { headers: { authorization: `Bearer ${token}` }, credentials: "omit" }).catch(
      () => undefined,
    );
  let response = await get(session.token);
  if (response?.status === 401) {
    const token = await session.fresh().catch(() => undefined);
    if (token !== undefined) {
      session.token = token;
      response = await get(token);
    }
  }
  if (response === undefined || !response.ok) {
    status.textContent = plainWords(
      response === undefined
        ? { kind: "unreachable" }
        : { kind: "refused", status: response.status, code: "" },
    );
    return;
  }
  const { documents } = (await response.json()) as {
    documents: { id: string; title: string; collection: string }[];
  };
  for (const document_ of documents)
    list.append(element("li", {}, `${document_.title} (${document_.collection})`));
  if (documents.length === 0) status.textContent = "Nothing is readable for this person.";
}

async function main(): Promise<void> {
  byId<HTMLTextAreaElement>("question").value = README_QUESTION;
  byId<HTMLFormElement>("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void ask();
  });
  byId("list-readable").addEventListener("click", () => void listReadable());
  byId("passage-close").addEventListener("click", () => {
    byId("passage").hidden = true;
    byId<HTMLTextAreaElement>("question").focus();
  });
  const settings = (await (await fetch("/console/settings.json", { credentials: "omit" })).json()) as {
    signIn: SignIn;
  };
  if (settings.signIn.mode === "demo") await startDemo();
  else if (settings.signIn.mode === "oidc") await startOidc(settings.signIn);
  else setWho("No sign-in is configured for the console (set CONSOLE_OIDC_CLIENT_ID).");
  document.body.dataset.ready = "true";
}

void main();
