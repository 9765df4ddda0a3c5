//! `sotto tui`: an interactive terminal chat (ratatui). A conversation list with unread counts,
//! the selected conversation's messages, a composer, and a status line with the connection state
//! (online / offline, retrying / messages queued) and warnings (changed safety numbers, refused
//! messages, gaps). New messages are fetched every few seconds through
//! the same sync loop `sotto recv` uses.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::{DefaultTerminal, Frame};
use sotto_client::groups::ConversationInfo;
use sotto_client::sync::{Event, ReceiveOptions};
use sotto_client::{Client, Error as ClientError};
use sotto_proto::ids::ConversationId;

use crate::error::CliError;

/// How often new messages are fetched.
const POLL: Duration = Duration::from_secs(3);

/// The screen's state.
struct App {
    /// Whether the last sync reached the server (`None` before the first).
    online: Option<bool>,
    conversations: Vec<ConversationInfo>,
    list: ListState,
    input: String,
    status: String,
    warning: bool,
    unread: HashMap<ConversationId, usize>,
    /// Payloads held per contact whose identity changed, as last shown: every sync reports
    /// them, but the status line only changes when the count does.
    identity_held: HashMap<String, usize>,
}

impl App {
    fn selected(&self) -> Option<&ConversationInfo> {
        self.list.selected().and_then(|i| self.conversations.get(i))
    }

    fn select(&mut self, index: usize) {
        if self.conversations.is_empty() {
            return;
        }
        let index = index.min(self.conversations.len() - 1);
        self.list.select(Some(index));
        if let Some(id) = self.conversations.get(index).map(|c| c.id) {
            self.unread.remove(&id);
        }
    }

    fn warn(&mut self, text: String) {
        self.status = text;
        self.warning = true;
    }

    fn inform(&mut self, text: String) {
        self.status = text;
        self.warning = false;
    }
}

/// Runs the interactive chat until Esc or Ctrl-C.
pub async fn run(client: &mut Client) -> Result<(), CliError> {
    if !std::io::stdout().is_terminal() {
        return Err(CliError::Usage("sotto tui needs a terminal"));
    }
    let mut app = App {
        online: None,
        conversations: client.conversations().await?,
        list: ListState::default(),
        input: String::new(),
        status: "Up/Down: conversation · Enter: send · Esc: quit".to_owned(),
        warning: false,
        unread: HashMap::new(),
        identity_held: HashMap::new(),
    };
    app.select(0);
    let mut terminal = ratatui::init();
    let result = event_loop(client, &mut app, &mut terminal).await;
    ratatui::restore();
    result
}

async fn event_loop(
    client: &mut Client,
    app: &mut App,
    terminal: &mut DefaultTerminal,
) -> Result<(), CliError> {
    let mut last_poll = Instant::now() - POLL;
    loop {
        terminal
            .draw(|frame| draw(frame, client, app))
            .map_err(|source| CliError::Prompt {
                what: "the terminal",
                source,
            })?;
        let ready = event::poll(Duration::from_millis(200)).map_err(|source| CliError::Prompt {
            what: "the terminal",
            source,
        })?;
        if ready {
            let input = event::read().map_err(|source| CliError::Prompt {
                what: "the terminal",
                source,
            })?;
            if let TermEvent::Key(key) = input {
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                match key.code {
                    KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(())
                    }
                    KeyCode::Up => app.select(app.list.selected().unwrap_or(0).saturating_sub(1)),
                    KeyCode::Down => app.select(app.list.selected().map_or(0, |i| i + 1)),
                    KeyCode::Backspace => {
                        app.input.pop();
                    }
                    KeyCode::Enter => send(client, app).await,
                    KeyCode::Char(c) => app.input.push(c),
                    _ => {}
                }
            }
        }
        if last_poll.elapsed() >= POLL {
            last_poll = Instant::now();
            poll(client, app).await;
        }
    }
}

async fn send(client: &mut Client, app: &mut App) {
    let text = app.input.trim().to_owned();
    // The conversation's id as a send target (a target may also be a username).
    let Some(target) = app.selected().map(|c| c.id.to_string()) else {
        return;
    };
    if text.is_empty() {
        return;
    }
    let queued_before = client.outbox_len();
    match client.send_text(&target, &text, false).await {
        Ok(report) if report.undelivered.is_empty() => {
            app.input.clear();
            app.inform("sent".to_owned());
        }
        Ok(report) => {
            // Stored, but not on every device: the outbox keeps it for those (never silent).
            app.input.clear();
            for u in &report.undelivered {
                app.warn(crate::output::undelivered_note(u));
            }
        }
        Err(error @ ClientError::IdentityChanged { .. }) => {
            app.warn(format!("WARNING: {}", crate::error::explain(&error)));
        }
        Err(error) if client.outbox_len() > queued_before => {
            // In the outbox: the next sync sends it. Typing it again would send it twice.
            app.input.clear();
            app.online = Some(false);
            app.warn(format!(
                "queued, not sent yet: {}",
                crate::error::explain(&error)
            ));
        }
        Err(error) => app.warn(format!("not sent: {}", crate::error::explain(&error))),
    }
    for unsent in client.take_unsent().unwrap_or_default() {
        app.warn(format!(
            "NOT SENT (refused by the server): {}",
            unsent.reason
        ));
    }
}

async fn poll(client: &mut Client, app: &mut App) {
    let dir = client.dir().join("files");
    let mut options = ReceiveOptions::new(dir);
    options.quiet = Duration::from_millis(300);
    let mut events = Vec::new();
    let result = client.receive(&options, &mut |e| events.push(e)).await;
    let selected = app.selected().map(|c| c.id);
    let mut new_conversation = false;
    // Each receive reports every contact still held: one not reported any more was released.
    let still_held: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::IdentityHeld { username, .. } => Some(username.clone()),
            _ => None,
        })
        .collect();
    app.identity_held
        .retain(|name, _| still_held.contains(name));
    for event in events {
        match event {
            Event::Message(m) => {
                if !app.conversations.iter().any(|c| c.id == m.conversation) {
                    new_conversation = true;
                }
                if selected != Some(m.conversation) {
                    *app.unread.entry(m.conversation).or_default() += 1;
                }
            }
            Event::Failure { reason, .. } => app.warn(format!("a message was refused: {reason}")),
            Event::Downgrade { message_id, from } => {
                app.warn(crate::output::downgrade_warning(&message_id, &from))
            }
            Event::Removed {
                group, by, left, ..
            } => {
                new_conversation = true;
                app.warn(if left {
                    format!("you left {group}")
                } else {
                    format!("you were removed from {group} by {by}")
                });
            }
            Event::ConversationChanged { .. } => new_conversation = true,
            Event::NotSentYet { reason, .. } => {
                app.warn(format!("a message of yours is not sent yet: {reason}"))
            }
            Event::Gap { from, missing } => {
                app.warn(format!("{missing} message(s) from {from} missing"))
            }
            Event::IdentityHeld {
                username, payloads, ..
            } if app.identity_held.get(&username) != Some(&payloads) => {
                app.warn(format!(
                    "WARNING: {username}'s identity key changed: {payloads} held, not shown; \
                     review with `sotto verify {username}`"
                ));
                app.identity_held.insert(username, payloads);
            }
            _ => {}
        }
    }
    match result {
        Ok(_) => {
            if app.online == Some(false) && app.warning {
                app.inform("back online".to_owned());
            }
            app.online = Some(true);
        }
        Err(error) => {
            app.online = Some(false);
            app.warn(format!("sync failed: {}", crate::error::explain(&error)));
        }
    }
    for unsent in client.take_unsent().unwrap_or_default() {
        app.warn(format!(
            "NOT SENT (refused by the server): {}",
            unsent.reason
        ));
    }
    if new_conversation {
        if let Ok(list) = client.conversations().await {
            app.conversations = list;
        }
    }
}

fn draw(frame: &mut Frame<'_>, client: &Client, app: &mut App) {
    let [top, composer_area, status_area] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [list_area, messages_area] =
        Layout::horizontal([Constraint::Length(32), Constraint::Min(20)]).areas(top);

    let items: Vec<ListItem<'_>> = app
        .conversations
        .iter()
        .map(|c| {
            let unread = app.unread.get(&c.id).copied().unwrap_or(0);
            let label = if unread > 0 {
                format!("{} ({unread})", c.title)
            } else {
                c.title.clone()
            };
            ListItem::new(label)
        })
        .collect();
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title("Conversations"),
        )
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    frame.render_stateful_widget(list, list_area, &mut app.list);

    let selected = app.selected().map(|c| (c.id, c.title.clone()));
    let lines: Vec<Line<'_>> = match &selected {
        Some((id, _)) => client
            .history()
            .filter(|m| m.conversation == *id)
            .map(|m| {
                let mut spans = vec![Span::styled(
                    format!("{}: ", m.from),
                    Style::default().fg(Color::Cyan),
                )];
                if m.amended.deleted {
                    spans.push(Span::styled(
                        "(message deleted)",
                        Style::default().fg(Color::DarkGray),
                    ));
                    return Line::from(spans);
                }
                if let Some(reply_to) = m.reply_to {
                    spans.push(Span::styled(
                        format!("↪ {reply_to} "),
                        Style::default().fg(Color::DarkGray),
                    ));
                }
                spans.push(Span::raw(m.current_text().to_owned()));
                if m.is_edited() {
                    spans.push(Span::styled(
                        " (edited)",
                        Style::default().fg(Color::DarkGray),
                    ));
                }
                for r in m.shown_reactions() {
                    spans.push(Span::raw(format!(" {} {}", r.emoji, r.username)));
                }
                if let Some(a) = &m.attachment {
                    spans.push(Span::styled(
                        format!(
                            " [file {} → {}]",
                            a.file_name,
                            a.path.as_deref().unwrap_or("not saved")
                        ),
                        Style::default().fg(Color::Yellow),
                    ));
                }
                Line::from(spans)
            })
            .collect(),
        None => vec![Line::from(
            "No conversation yet: use `sotto send <user> <text>`.",
        )],
    };
    let height = usize::from(messages_area.height.saturating_sub(2));
    let skip = lines.len().saturating_sub(height);
    let title = selected.map_or_else(|| "Messages".to_owned(), |(_, name)| name);
    let messages = Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>())
        .block(Block::default().borders(Borders::ALL).title(title))
        .wrap(Wrap { trim: false });
    frame.render_widget(messages, messages_area);

    let composer = Paragraph::new(app.input.as_str())
        .block(Block::default().borders(Borders::ALL).title("Message"));
    frame.render_widget(composer, composer_area);

    let style = if app.warning {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    let queued = client.outbox_len();
    let link = match app.online {
        None => Span::styled("connecting… ", Style::default().fg(Color::Yellow)),
        Some(true) => Span::styled("● online ", Style::default().fg(Color::Green)),
        Some(false) => Span::styled(
            "○ offline, retrying ",
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    };
    let mut spans = vec![link];
    if queued > 0 {
        spans.push(Span::styled(
            format!("({queued} queued) "),
            Style::default().fg(Color::Yellow),
        ));
    }
    spans.push(Span::styled(app.status.as_str(), style));
    frame.render_widget(Paragraph::new(Line::from(spans)), status_area);
}
