/** The provider and its hooks: a component reaches the client the app mounted, only inside it. */

import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";

import type { SottoClient } from "./engine/client";
import type { AppView } from "./engine/model";
import { SottoProvider, useSotto, useSottoView } from "./sotto";

const view = { phase: { kind: "signed-out" } } as unknown as AppView;
const client = {
  subscribe: () => () => undefined,
  getView: () => view,
} as unknown as SottoClient;

function Probe() {
  const c = useSotto();
  const v = useSottoView();
  return <p>{c === client && v === view ? "reached" : "another client"}</p>;
}

describe("SottoProvider", () => {
  it("gives its components the client it holds and that client's view", () => {
    const html = renderToString(
      <SottoProvider client={client}>
        <Probe />
      </SottoProvider>,
    );
    expect(html).toBe("<p>reached</p>");
  });

  it("a component rendered outside it fails loudly instead of running without an engine", () => {
    expect(() => renderToString(<Probe />)).toThrow("useSotto() is used outside a <SottoProvider>");
  });
});
