// The quick start: a dict, a list and a table, written and read back.
// Run: npm start  (or: deno task start, bun run examples/quickstart.ts)
import { Database, defineSchema } from "../mod.ts";

const dir = typeof process !== "undefined" && process.argv.includes("--memory") ? undefined : "./data/quickstart";
await using db = await Database.open({ dir });

// CyberDB style: named dicts and lists.
// The data persists in ./data/quickstart: a second run finds it again.
const exists = (name: string) => db.collections().some((c) => c.name === name);

const dict = exists("dict1") ? db.getDict("dict1") : db.createDict("dict1");
dict.set(0, 100);
dict.set("key", "value");
dict.update({ falsy: 0, empty: "", no: false, nothing: null });
console.log("dict1:", Object.fromEntries(dict.entries()));

const list = exists("list1") ? db.getList<number>("list1") : db.createList<number>("list1");
list.clear();
list.extend([5, 3, 4]);
list.append(1);
list.sort();
console.log("list1:", list.toArray(), "popped:", list.pop());

// MathDB style: a schema'd table with a primary key.
const schema = defineSchema({
  name: "users",
  columns: [
    { name: "id", type: "Int64", primaryKey: true },
    { name: "name", type: "Utf8" },
    { name: "age", type: "Int32", nullable: true },
  ],
});
const users = exists("users") ? db.getTable<typeof schema>("users") : db.createTable(schema);
users.upsert({ id: 1, name: "Ada", age: 36 });
users.upsert({ id: 2, name: "Grace" });
users.patch(2, { age: 45 });
console.log("users:", users.toArray());
console.log("user 1 is", users.get(1)?.name, "- rows:", users.count());
