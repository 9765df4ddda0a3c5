/** The application shell. Screens arrive with the web client's UI work (issue 5); for now it only
 * says what it is. */
export function App() {
  return (
    <main>
      <h1>Sotto</h1>
      <p>End-to-end encrypted chat. The web client is under construction.</p>
    </main>
  );
}
