// The contract suite (DESIGN §8): the behaviour of dicts, lists, tables and
// queries, run three times — embedded, over WebSocket and over HTTP against
// one real server process — so the remote API provably behaves like the
// embedded one. The suites live in tests/contract/; the harness there gives
// every test a fresh database-like handle.
import { runContract } from "./contract/harness.ts";
// Compile-time: the remote facades have the embedded members and parameters.
import type { Conformance } from "./contract/conformance.ts";
import { dictContract } from "./contract/dict.ts";
import { listContract } from "./contract/list.ts";
import { tableContract } from "./contract/table.ts";
import { valuesContract } from "./contract/values.ts";
import { queryContract } from "./contract/query.ts";
import { dbContract } from "./contract/db.ts";

runContract([dbContract, dictContract, listContract, tableContract, valuesContract, queryContract]);

export type { Conformance };
