import { createEmbeddedAuthorizer } from "./src/adapters/embedded-authz/embedded-authorizer.ts";
import { parseTuple, parseSubject, parseEntity } from "./src/core/permify-notation.ts";
import { lookupAllResources, lookupAllSubjects } from "./src/core/lookup-all.ts";
const schema = `entity user {}
entity group {
  relation member @user @group#member
}
entity doc {
  relation viewer @user @group#member
  permission view = viewer
}
`;
async function run(label: string, tuples: string[], checks: [string, string, string][], opts = {}) {
  const a = await createEmbeddedAuthorizer(opts);
  await a.writeSchema(schema);
  const w = await a.writeData({ tuples: tuples.map(parseTuple) }).catch((e) => `${e.code}: ${e.message}`);
  if (typeof w === "string") console.log(label, "write:", w);
  for (const [e, p, s] of checks) {
    const t0 = performance.now();
    const r = await a.check({ entity: parseEntity(e), permission: p, subject: parseSubject(s) }).catch((err) => `${err.code}: ${err.message}`);
    console.log(label, `${e}#${p}@${s}`, "=>", r, (performance.now() - t0).toFixed(1), "ms");
  }
  await a.close();
}
const chain = (n: number) => Array.from({ length: n - 1 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);
await run("chain60", [...chain(60), "group:g59#member@user:u0"], [["group:g0", "member", "user:u0"], ["group:g0", "member", "user:u1"]]);
await run("chain20-depth10", [...chain(20), "group:g19#member@user:u0"], [["group:g0", "member", "user:u0"], ["group:g0", "member", "user:u1"]], { maxDepth: 10 });
await run("self", [], [["group:g0", "member", "group:g0#member"]]);
await run("selftuple", ["group:g0#member@group:g0#member"], []);
// dense cyclic graph: complete digraph on 12 groups, user not a member
const dense: string[] = [];
for (let i = 0; i < 12; i++) for (let j = 0; j < 12; j++) if (i !== j) dense.push(`group:g${i}#member@group:g${j}#member`);
await run("dense12-nopath", dense, [["group:g0", "member", "user:u0"]]);
await run("dense12-path", [...dense, "group:g11#member@user:u0"], [["group:g0", "member", "user:u0"]]);
// diamond lattice acyclic: 20 layers of 2 nodes fully connected between layers: 2^20 paths
const lattice: string[] = [];
for (let l = 0; l < 20; l++) for (const a of [0, 1]) for (const b of [0, 1]) lattice.push(`group:l${l}_${a}#member@group:l${l + 1}_${b}#member`);
await run("lattice-nopath", lattice, [["group:l0_0", "member", "user:u0"]]);
await run("lattice-path", [...lattice, "group:l20_1#member@user:u0"], [["group:l0_0", "member", "user:u0"]]);
