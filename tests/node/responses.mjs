// The OpenAI Node SDK's Responses API against the gateway: node responses.mjs <base URL> <token>.
// Prints one JSON line with what the test checks.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const plain = await client.responses.create({ model: "openai/gpt-4o", input: "Hello from Node" });
const stream = await client.responses.create({ model: "openai/gpt-4o", input: "Hello from Node", stream: true });
const kinds = [];
let text = "";
for await (const event of stream) {
  kinds.push(event.type);
  if (event.type === "response.output_text.delta") text += event.delta;
}
let refused = null;
try {
  await client.responses.create({ model: "openai/gpt-4o", input: "Hi", store: true });
} catch (error) {
  refused = { name: error.constructor.name, status: error.status };
}
console.log(JSON.stringify({ plain: plain.output_text, first: kinds[0], last: kinds.at(-1), text, refused }));
