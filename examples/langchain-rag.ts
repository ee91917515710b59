/**
 * A LangChain.js RAG chain on ClearanceRetriever: the retriever asks clearance with the caller's token, so
 * the prompt can only ever hold passages that caller may read; the answer cites them by number.
 *
 *   CLEARANCE_TOKEN=$(AUTH_MODE=demo npx clearance token --sub victor | tail -1) \
 *     npx tsx examples/langchain-rag.ts "Is the Pier Street branch closing?"
 *
 * CLEARANCE_URL is where clearance serves (default http://127.0.0.1:8080). With OPENAI_API_KEY (and
 * optionally OPENAI_BASE_URL for any OpenAI-compatible endpoint, CHAT_MODEL) a chat model writes the
 * answer; without, a stand-in quotes the best passage, so that the example runs offline.
 */
import type { Document } from "@langchain/core/documents";
import type { BaseLanguageModelInput } from "@langchain/core/language_models/base";
import { StringOutputParser } from "@langchain/core/output_parsers";
import { ChatPromptTemplate } from "@langchain/core/prompts";
import { RunnableLambda, RunnablePassthrough, RunnableSequence } from "@langchain/core/runnables";
import { ClearanceRetriever, isClearanceError, type PassageMetadata } from "clearance/langchain";

const token = process.env.CLEARANCE_TOKEN;
if (!token) {
  console.error(
    "usage: CLEARANCE_TOKEN=<the caller's token> [CLEARANCE_URL=<url>] tsx examples/langchain-rag.ts <question>",
  );
  process.exit(2);
}
const question = process.argv.slice(2).join(" ") || "Is the Pier Street branch closing?";

// One retriever per caller: it answers with what this token may read, and nothing else.
const retriever = new ClearanceRetriever({
  baseUrl: process.env.CLEARANCE_URL ?? "http://127.0.0.1:8080",
  token,
  k: 4,
});

const prompt = ChatPromptTemplate.fromMessages([
  [
    "system",
    "Answer the question only from the numbered passages below and cite them as [n]. If they do not " +
      "answer it, say so.\n\n{context}",
  ],
  ["human", "{question}"],
]);

/** Passages as the prompt numbers them: `[1] title: text`. */
function numbered(documents: Document<PassageMetadata>[]): string {
  return documents.map((d, i) => `[${i + 1}] ${d.metadata.title}: ${d.pageContent}`).join("\n");
}

/** Offline stand-in for a chat model: the first sentence of passage [1], cited. */
const quoteBestPassage = RunnableLambda.from((input: BaseLanguageModelInput) => {
  const text = typeof input === "string" ? input : input.toString();
  const best = /\[1\] [^:\n]*: ([^\n]*?[.!?])(\s|$)/.exec(text)?.[1];
  return best === undefined ? "None of the passages you may read answers this." : `${best} [1]`;
});

// Loaded only when asked for: the OpenAI SDK is the slowest part of starting offline.
const model = process.env.OPENAI_API_KEY
  ? new (await import("@langchain/openai")).ChatOpenAI({
      model: process.env.CHAT_MODEL ?? "gpt-4o-mini",
      apiKey: process.env.OPENAI_API_KEY,
      timeout: 60_000,
      ...(process.env.OPENAI_BASE_URL ? { configuration: { baseURL: process.env.OPENAI_BASE_URL } } : {}),
    })
  : quoteBestPassage;

const chain = RunnableSequence.from([
  { question: new RunnablePassthrough<string>(), documents: retriever },
  RunnablePassthrough.assign({
    answer: RunnableSequence.from([
      (input: { question: string; documents: Document<PassageMetadata>[] }) => ({
        question: input.question,
        context: numbered(input.documents),
      }),
      prompt,
      model,
      new StringOutputParser(),
    ]),
  }),
]);

try {
  const { answer, documents }: { answer: string; documents: Document<PassageMetadata>[] } =
    await chain.invoke(question);
  console.log(`Question: ${question}`);
  console.log(`Answer: ${answer}`);
  console.log("Sources:");
  documents.forEach(({ metadata }, index) => {
    const section = metadata.sectionId === null ? "" : `, section ${metadata.sectionId}`;
    console.log(
      `  [${index + 1}] ${metadata.title} (document ${metadata.documentId}${section}, chunk ${metadata.chunkId}, score ${metadata.score})`,
    );
  });
} catch (error) {
  // A refusal (401, 403) or a failure (503) stops the chain: the model never answers from nothing.
  if (!isClearanceError(error)) throw error;
  console.error(
    `clearance refused: ${error.code} (HTTP ${error.status ?? "none"}, request ${error.requestId ?? "none"})`,
  );
  process.exitCode = 1;
}
