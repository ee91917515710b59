import { createEmbeddedVectorStore } from "../../../../src/adapters/embedded-vectors/embedded-vector-store.ts";
import { describeVectorStoreContract } from "../../../contract/vector-store-contract.ts";

describeVectorStoreContract(
  "embedded",
  ({ dataDir, dimensions }) => createEmbeddedVectorStore({ dataDir, dimensions }),
  { persistent: true },
);
