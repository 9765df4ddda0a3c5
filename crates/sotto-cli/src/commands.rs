//! Runs one command against an open profile.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use sotto_client::engine::backup::RecoveryMethod;
use sotto_client::recovery::SecretInput;
use sotto_client::sync::ReceiveOptions;
use sotto_client::{Client, Error as ClientError, ProfileOptions};
use sotto_proto::ids::{ConversationId, MessageId};
use zeroize::Zeroizing;

use crate::cli::{
    Cli, Command, DevicesCommand, GroupCommand, KeysCommand, OutboxCommand, RecoveryCommand,
    SendArgs,
};
use crate::error::CliError;
use crate::output::{self, note, Progress};
use sotto_client::engine::retention::{parse_retention, show_retention};
use sotto_proto::group::ConversationKind;

/// Reads a secret from `variable`, or asks on the terminal.
fn secret(
    variable: &'static str,
    what: &'static str,
    prompt: &str,
) -> Result<Zeroizing<String>, CliError> {
    if let Ok(value) = std::env::var(variable) {
        return Ok(Zeroizing::new(value));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NoSecret { what, variable });
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|source| CliError::Prompt { what, source })
}

fn default_profile() -> Result<PathBuf, CliError> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("sotto").join("default"));
    }
    let home = std::env::var_os("HOME").ok_or(CliError::NoProfileDir)?;
    Ok(PathBuf::from(home)
        .join(".local")
        .join("share")
        .join("sotto")
        .join("default"))
}

fn conversation(text: &str) -> Result<ConversationId, CliError> {
    text.parse().map_err(|_| {
        CliError::Client(ClientError::UnknownConversation {
            what: text.to_owned(),
        })
    })
}

/// Opens the profile and runs the command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let dir = match cli.profile.clone() {
        Some(dir) => dir,
        None => default_profile()?,
    };
    let passphrase = secret(
        "SOTTO_PASSPHRASE",
        "the profile passphrase",
        "Profile passphrase: ",
    )?;
    let explicit_pin = cli.tls_pin.is_some();
    let mut client = Client::open(ProfileOptions {
        dir,
        passphrase,
        server: cli.server.clone(),
        tls_pin: cli.tls_pin.clone(),
    })?;
    if explicit_pin {
        client.save()?;
    }
    let result = command(&mut client, cli.command).await;
    report_unsent(&mut client);
    for warning in client.take_directory_warnings() {
        note(&output::directory_warning(&warning));
    }
    result
}

/// Tells the user about messages the server refused for good (taken out of the outbox by any
/// command that sends or receives), once.
fn report_unsent(client: &mut Client) {
    let Ok(unsent) = client.take_unsent() else {
        return;
    };
    for u in unsent {
        note(&format!(
            "NOT SENT: {} in {} was refused by the server ({}); it was removed from the outbox",
            u.message_id, u.conversation, u.reason
        ));
    }
}

async fn command(client: &mut Client, command: Command) -> Result<(), CliError> {
    match command {
        Command::Register {
            username,
            device_name,
            invite,
        } => {
            // A mistyped code is caught here, before keys are generated and a request spent.
            let invite = invite
                .map(|text| {
                    text.parse::<sotto_client::api::InviteCode>().map_err(|_| {
                        CliError::Usage(
                            "--invite: an invitation code is 26 letters and digits \
                             (XXXXX-XXXXX-XXXXX-XXXXX-XXXXXX; any case, dashes optional)",
                        )
                    })
                })
                .transpose()?;
            let password = secret("SOTTO_PASSWORD", "the account password", "Password: ")?;
            let progress = Progress::start("generating keys and registering");
            let result = client
                .register_invited(&username, &password, &device_name, invite.as_ref())
                .await;
            progress.finish();
            result?;
            note(&format!(
                "registered {} with device {}",
                client.username().unwrap_or(&username),
                client
                    .device_id()
                    .map_or_else(|| "?".to_owned(), |d| d.to_string())
            ));
        }
        Command::Login {
            username,
            device_name,
            wait,
        } => login(client, &username, &device_name, wait).await?,
        Command::Recover {
            username,
            device_name,
            revoke_others,
        } => recover(client, &username, &device_name, revoke_others).await?,
        Command::Recovery(cmd) => recovery(client, cmd).await?,
        Command::History { target, limit } => {
            let progress = Progress::start("fetching history");
            let result = async {
                let conversation = client.find_conversation(&target).await?;
                let report = client.fetch_history(conversation, limit).await?;
                Ok::<_, ClientError>((conversation, report))
            }
            .await;
            progress.finish();
            let (conversation, report) = result?;
            if report.unreadable > 0 {
                note(&format!(
                    "{} archived message(s) could not be opened on this device (no key for \
                     them, or they did not verify); they are not shown",
                    report.unreadable
                ));
            }
            for message in client.stored_messages(conversation, limit) {
                output::line(&output::message_json(&message));
            }
        }
        Command::Devices(cmd) => devices(client, cmd).await?,
        Command::Keys(cmd) => keys(client, cmd).await?,
        Command::Edit { message, text } => amend(client, Amend::Edit { message, text }).await?,
        Command::Delete { message } => amend(client, Amend::Delete { message }).await?,
        Command::React {
            message,
            emoji,
            remove,
        } => {
            let added = !remove;
            amend(
                client,
                Amend::React {
                    message,
                    emoji,
                    added,
                },
            )
            .await?
        }
        Command::Search {
            text,
            conversation,
            json,
        } => {
            let within = match conversation {
                Some(target) => Some(client.find_conversation(&target).await?),
                None => None,
            };
            for hit in client.search(&text, within) {
                if json {
                    output::line(&output::search_json(&hit));
                } else {
                    output::text(&output::search_line(&hit));
                }
            }
        }
        Command::Send(args) => send(client, args).await?,
        Command::Group(cmd) => group(client, cmd).await?,
        Command::Recv {
            wait,
            download_dir,
            human,
        } => {
            let dir = download_dir.unwrap_or_else(|| client.dir().join("files"));
            let mut options = ReceiveOptions::new(dir);
            options.wait = Duration::from_secs(wait);
            let progress = Progress::start("receiving");
            let result = client
                .receive(&options, &mut |e| {
                    progress.suspend(|| output::event(e, human))
                })
                .await;
            progress.finish();
            let summary = result?;
            if summary.failed > 0 {
                note(&format!(
                    "{} payload(s) refused; `sotto status` shows the undecryptable count",
                    summary.failed
                ));
            }
        }
        Command::Verify {
            username,
            confirm,
            accept_new_identity,
        } => {
            let held = client.held_for_identity();
            let safety = client
                .safety_number(&username, confirm, accept_new_identity)
                .await?;
            if let Some(n) = held.get(&safety.username).filter(|_| accept_new_identity) {
                note(&format!(
                    "{n} payload(s) held for {}'s identity change are checked again (against \
                     the identity now pinned) by the next `sotto recv`",
                    safety.username
                ));
            }
            output::text(&format!("Safety number with {}:", safety.username));
            for row in safety.groups.chunks(4) {
                output::text(&format!("  {}", row.join(" ")));
            }
            output::text(if safety.verified {
                "Status: verified"
            } else {
                "Status: not verified (compare the number with them, then run with --confirm)"
            });
        }
        Command::Requests => {
            for r in client.requests().await? {
                output::line(&json!({
                    "conversation": r.conversation,
                    "from": r.from,
                    "from_username": r.from_username,
                    "members": r.members,
                    "created_at": r.created_at,
                    "queued": r.queued,
                }));
            }
        }
        Command::Accept { conversation: conv } => {
            client.accept(conversation(&conv)?).await?;
            note(&format!("accepted {conv}"));
        }
        Command::Decline { conversation: conv } => {
            client.decline(conversation(&conv)?).await?;
            note(&format!(
                "declined {conv}: no further messages of it reach you"
            ));
        }
        Command::Block { username } => {
            client.block(&username).await?;
            note(&format!(
                "blocked {username}: nothing they send reaches you"
            ));
        }
        Command::Unblock { username } => {
            client.unblock(&username).await?;
            note(&format!("unblocked {username}"));
        }
        Command::Blocks => {
            for b in client.blocks().await? {
                output::line(&json!({ "account": b.account, "username": b.username }));
            }
        }
        Command::Outbox { action } => outbox(client, action)?,
        Command::Tui => crate::tui::run(client).await?,
        Command::Status => {
            output::text(&format!("server: {}", client.server()));
            output::text(&format!(
                "tls pin: {}",
                client.tls_pin().unwrap_or("(system trust)")
            ));
            output::text(&format!("user: {}", client.username().unwrap_or("(none)")));
            output::text(&format!(
                "device: {}",
                client
                    .device_id()
                    .map_or_else(|| "(none)".to_owned(), |d| d.to_string())
            ));
            output::text(&format!(
                "device state: {}",
                if client.device_id().is_none() {
                    "none"
                } else if client.device_active() {
                    "active"
                } else {
                    "waiting for approval"
                }
            ));
            output::text(&format!(
                "master key on this device: {}",
                client.holds_master_key()
            ));
            output::text(&format!("undecryptable: {}", client.undecryptable()));
            output::text(&format!("held: {}", client.held()));
            for (username, n) in client.held_for_identity() {
                output::text(&format!(
                    "held until you review {username}'s changed identity: {n}"
                ));
            }
            output::text(&format!("outbox: {}", client.outbox_len()));
            output::text(&format!(
                "partly delivered: {}",
                client.outbox().filter(|i| i.is_partly_delivered()).count()
            ));
        }
    }
    Ok(())
}

async fn login(
    client: &mut Client,
    username: &str,
    device_name: &str,
    wait: u64,
) -> Result<(), CliError> {
    let password = secret("SOTTO_PASSWORD", "the account password", "Password: ")?;
    let progress = Progress::start("logging in");
    let started = client.login_start(username, &password, device_name).await;
    progress.finish();
    match started? {
        sotto_client::account::LoginStart::Ready => {
            note(&format!(
                "logged in as {}",
                client.username().unwrap_or(username)
            ));
        }
        sotto_client::account::LoginStart::Pending { code, login_token } => {
            output::text(&format!("approval code: {code}"));
            note("on a device that holds your master key, run: sotto devices approve <code>");
            let progress = Progress::start("waiting for approval");
            let result = client
                .login_wait(&login_token, Duration::from_secs(wait))
                .await;
            progress.finish();
            result?;
            note(&format!(
                "device approved; logged in as {}",
                client.username().unwrap_or(username)
            ));
        }
    }
    Ok(())
}

async fn devices(client: &mut Client, cmd: DevicesCommand) -> Result<(), CliError> {
    match cmd {
        DevicesCommand::List => {
            for d in client.devices().await? {
                output::line(&json!({
                    "device": d.device,
                    "state": d.state,
                    "name": d.name,
                    "current": d.current,
                    "code": if d.state == "pending" { Some(d.code) } else { None },
                }));
            }
        }
        DevicesCommand::Approve { code } => {
            let approved = client.approve(&code).await?;
            note(&format!("approved {} ({})", approved.name, approved.device));
            match &approved.handovers {
                Ok(0) => {}
                Ok(_) => note("handed this device's keys to it: it can read earlier messages"),
                Err(error) => note(&format!(
                    "could not hand this device's keys to it ({}); it reads new messages only",
                    crate::error::explain(error)
                )),
            }
            output::line(&json!({ "device": approved.device }));
        }
        DevicesCommand::Revoke { device } => {
            client.revoke(&device).await?;
            note(&format!("revoked {device}"));
        }
    }
    Ok(())
}

async fn send(client: &mut Client, args: SendArgs) -> Result<(), CliError> {
    let queued_before = queued(client);
    let sent = send_now(client, &args).await;
    report_send(client, &queued_before, sent)
}

/// The ids in the outbox now (to tell a message queued by a failed send from earlier ones).
fn queued(client: &Client) -> Vec<MessageId> {
    client.outbox().map(|i| i.message_id).collect()
}

/// `edit`, `delete` and `react`: an amendment sent like a message.
async fn amend(client: &mut Client, action: Amend) -> Result<(), CliError> {
    let queued_before = queued(client);
    let sent = match action {
        Amend::Edit { message, text } => client.edit_message(message_id(&message)?, &text).await,
        Amend::Delete { message } => client.delete_message(message_id(&message)?).await,
        Amend::React {
            message,
            emoji,
            added,
        } => client.react(message_id(&message)?, &emoji, added).await,
    };
    report_send(client, &queued_before, sent.map_err(CliError::from))
}

/// What `amend` does.
enum Amend {
    Edit {
        message: String,
        text: String,
    },
    Delete {
        message: String,
    },
    React {
        message: String,
        emoji: String,
        added: bool,
    },
}

fn message_id(text: &str) -> Result<MessageId, CliError> {
    text.parse().map_err(|_| {
        CliError::Client(ClientError::InvalidInput {
            field: "message id",
            reason: "expected msg: and 32 hex digits",
        })
    })
}

/// Prints what a send did (or that it stays queued), and fails with the exit code that says
/// whether every member device got it.
fn report_send(
    client: &Client,
    queued_before: &[MessageId],
    sent: Result<sotto_client::outbox::SendReport, CliError>,
) -> Result<(), CliError> {
    if let Err(error) = &sent {
        // A message that reached the outbox before the failure is not lost: say so (with its
        // id), so that nobody sends it a second time by hand.
        let queued = client
            .outbox()
            .find(|i| !queued_before.contains(&i.message_id));
        if let Some(item) = queued {
            output::line(&json!({
                "id": item.message_id,
                "conversation": item.conversation,
                "queued": true,
            }));
            note(&format!(
                "not sent yet ({error}); it stays in the outbox and goes out with the next \
                 `sotto send` or `sotto recv`"
            ));
        }
    }
    let report = sent?;
    output::line(&json!({
        "id": report.message_id,
        "conversation": report.conversation,
        "recipients": report.recipients,
        "undelivered": output::undelivered_json(&report.undelivered),
    }));
    for u in &report.undelivered {
        note(&output::undelivered_note(u));
    }
    if !report.undelivered.is_empty() {
        return Err(CliError::NotDelivered {
            devices: report.undelivered.len(),
            message: report.message_id.to_string(),
        });
    }
    if report.recipients == 0 && !report.repeated {
        note(
            "no other device is in this conversation: the message is stored, but nobody else \
             can read it until a member has a device",
        );
    }
    Ok(())
}

/// `sotto outbox [list]` and `sotto outbox drop <msg>`.
fn outbox(client: &mut Client, action: Option<OutboxCommand>) -> Result<(), CliError> {
    match action.unwrap_or(OutboxCommand::List) {
        OutboxCommand::List => {
            for item in client.outbox() {
                let undelivered: Vec<_> = item
                    .undelivered
                    .iter()
                    .map(|u| json!({ "device": u.device, "reason": u.reason.as_str() }))
                    .collect();
                output::line(&json!({
                    "id": item.message_id,
                    "conversation": item.conversation,
                    "state": if item.is_partly_delivered() { "partly_delivered" } else { "waiting" },
                    "undelivered": undelivered,
                }));
            }
        }
        OutboxCommand::Drop { message } => {
            let id = message_id(&message)?;
            if !client.drop_outbox_item(id)? {
                return Err(CliError::NotInOutbox { message });
            }
            note(&format!("dropped {message} from the outbox"));
        }
    }
    Ok(())
}

async fn send_now(
    client: &mut Client,
    args: &SendArgs,
) -> Result<sotto_client::outbox::SendReport, CliError> {
    Ok(match (&args.file, &args.text) {
        (Some(_), _) if args.reply_to.is_some() => {
            return Err(CliError::Usage(
                "--reply-to goes with a text, not with --file",
            ))
        }
        (Some(path), caption) => {
            let progress = Progress::start("encrypting and uploading");
            let result = client
                .send_file(
                    &args.to,
                    path,
                    caption.as_deref().unwrap_or(""),
                    args.accept_new_identity,
                )
                .await;
            progress.finish();
            result?
        }
        (None, Some(text)) => {
            let reply_to = args.reply_to.as_deref().map(message_id).transpose()?;
            client
                .send_message(&args.to, text, reply_to, args.accept_new_identity)
                .await?
        }
        (None, None) => return Err(CliError::Usage("send needs a text or --file PATH")),
    })
}

async fn group(client: &mut Client, cmd: GroupCommand) -> Result<(), CliError> {
    match cmd {
        GroupCommand::Create {
            name,
            usernames,
            accept_new_identity,
        } => {
            let id = client
                .create_group(&name, &usernames, accept_new_identity)
                .await?;
            output::line(&json!({ "conversation": id.to_string() }));
        }
        GroupCommand::Add {
            conversation: conv,
            username,
            accept_new_identity,
        } => {
            let epoch = client
                .add_member(conversation(&conv)?, &username, accept_new_identity)
                .await?;
            output::line(&json!({ "conversation": conv, "epoch": epoch }));
        }
        GroupCommand::Remove {
            conversation: conv,
            username,
        } => {
            let epoch = client
                .remove_member(conversation(&conv)?, &username)
                .await?;
            output::line(&json!({ "conversation": conv, "epoch": epoch }));
        }
        GroupCommand::Leave {
            conversation: conv,
            admin,
        } => {
            let epoch = client
                .leave_group(conversation(&conv)?, admin.as_deref())
                .await?;
            note(&format!("you left {conv}; its messages stay readable here"));
            output::line(&json!({ "conversation": conv, "epoch": epoch }));
        }
        GroupCommand::Admin {
            conversation: conv,
            username,
            revoke,
        } => {
            let epoch = client
                .set_admin(conversation(&conv)?, &username, !revoke)
                .await?;
            output::line(&json!({
                "conversation": conv,
                "epoch": epoch,
                "username": username,
                "admin": !revoke,
            }));
        }
        GroupCommand::Rename {
            conversation: conv,
            name,
        } => {
            let epoch = client.rename_group(conversation(&conv)?, &name).await?;
            output::line(&json!({ "conversation": conv, "epoch": epoch }));
        }
        GroupCommand::List => {
            for c in client.conversations().await? {
                let members: Vec<_> = c.members.iter().map(|m| m.0.clone()).collect();
                let retention = client.retention(c.id).await?;
                output::line(&json!({
                    "conversation": c.id,
                    "kind": match c.kind {
                        ConversationKind::Group => "group",
                        ConversationKind::Direct => "direct",
                    },
                    "name": c.name,
                    "title": c.title,
                    "epoch": c.epoch,
                    "members": members,
                    "retention": show_retention(retention),
                }));
            }
            // A log that does not verify is not a conversation to show: say which and why.
            for (id, reason) in client.refused_conversations() {
                output::line(&json!({ "conversation": id, "refused": reason }));
            }
        }
        GroupCommand::Retention { target, duration } => {
            let retention = parse_retention(&duration).ok_or(CliError::Usage(
                "a retention is `forever` or a duration from 60s to 10y (60s, 5m, 7d, 1y)",
            ))?;
            let conversation = client.find_conversation(&target).await?;
            let epoch = client.set_retention(conversation, retention).await?;
            note(&format!(
                "messages of {conversation} are kept {} from now on, by the server and every \
                 member's devices",
                match retention.secs() {
                    0 => "for good".to_owned(),
                    _ => format!("for {}", show_retention(retention)),
                }
            ));
            output::line(&json!({
                "conversation": conversation,
                "epoch": epoch,
                "retention": show_retention(retention),
            }));
        }
        GroupCommand::Members { conversation: conv } => {
            let info = client.conversation(conversation(&conv)?).await?;
            for (username, account, admin) in info.members {
                output::line(&json!({ "username": username, "account": account, "admin": admin }));
            }
        }
    }
    Ok(())
}

/// `sotto recovery setup|status`.
async fn recovery(client: &mut Client, cmd: RecoveryCommand) -> Result<(), CliError> {
    match cmd {
        RecoveryCommand::Setup { passphrase } => {
            let passphrase = if passphrase {
                note(
                    "a passphrase is only as strong as you choose it: whoever copies the \
                     server's database can test guesses of it offline (a recovery key cannot be \
                     guessed)",
                );
                Some(secret(
                    "SOTTO_RECOVERY_PASSPHRASE",
                    "the recovery passphrase",
                    "Recovery passphrase (12 characters or more): ",
                )?)
            } else {
                None
            };
            let progress = Progress::start("setting up recovery");
            let result = client
                .setup_recovery(passphrase.as_deref().map(String::as_str))
                .await;
            progress.finish();
            let report = result?;
            if let Some(key) = &report.key {
                note(
                    "WRITE THIS RECOVERY KEY DOWN and keep it somewhere safe: it is shown only \
                     this once, and with your password it recovers your account and messages \
                     if you lose every device (`sotto recover <username>`)",
                );
                output::text(key);
            } else {
                note("recovery is set up with your passphrase");
            }
            if report.pending > 0 {
                note(&format!(
                    "{} key(s) are not backed up yet; the next `sotto send` or `sotto recv` \
                     uploads them",
                    report.pending
                ));
            }
        }
        RecoveryCommand::Status => {
            let status = client.recovery_status().await?;
            output::line(&json!({
                "configured": status.configured,
                "method": status.method,
                "items": status.items,
                "pending": status.pending,
            }));
        }
    }
    Ok(())
}

/// `sotto keys …`.
async fn keys(client: &mut Client, cmd: KeysCommand) -> Result<(), CliError> {
    let status = match cmd {
        KeysCommand::Status => client.prekey_status().await?,
        KeysCommand::Rekey => {
            let progress = Progress::start("making a new exchange key and prekeys");
            let result = client.rekey().await;
            progress.finish();
            let status = result?;
            note(
                "re-keyed: new exchange key and prekeys published, old one-time prekeys deleted; \
                 your next message in each conversation starts a new chain",
            );
            status
        }
    };
    output::line(&output::prekey_status_json(&status));
    Ok(())
}

/// `sotto recover <username>`: on a fresh profile, the account back from the key backup.
async fn recover(
    client: &mut Client,
    username: &str,
    device_name: &str,
    revoke_others: bool,
) -> Result<(), CliError> {
    let password = secret("SOTTO_PASSWORD", "the account password", "Password: ")?;
    // A typo in a key given up front is caught before anything is sent.
    let given_key = std::env::var("SOTTO_RECOVERY_KEY").ok().map(Zeroizing::new);
    if let Some(key) = &given_key {
        sotto_client::recovery::check_recovery_key(key)?;
    }
    let progress = Progress::start("logging in and announcing this device");
    let started = client.recover_start(username, &password, device_name).await;
    progress.finish();
    let start = started?;
    let input = match start.method {
        RecoveryMethod::Key => {
            let key = match given_key {
                Some(key) => key,
                None => secret("SOTTO_RECOVERY_KEY", "the recovery key", "Recovery key: ")?,
            };
            sotto_client::recovery::check_recovery_key(&key)?;
            SecretInput::Key(key)
        }
        RecoveryMethod::Passphrase => SecretInput::Passphrase(secret(
            "SOTTO_RECOVERY_PASSPHRASE",
            "the recovery passphrase",
            "Recovery passphrase: ",
        )?),
    };
    let progress = Progress::start("unlocking the key backup and fetching history");
    let result = client.recover_finish(start, input, revoke_others).await;
    progress.finish();
    let recovered = result?;
    note(&format!(
        "recovered {} on this device: the same account and master key, {} chain key(s), {} \
         message(s) from the archive",
        client.username().unwrap_or(username),
        recovered.taken.chains,
        recovered.history
    ));
    if !recovered.refused_items.is_empty() {
        note(&format!(
            "{} backup item(s) were refused and skipped: {}",
            recovered.refused_items.len(),
            recovered.refused_items.join(", ")
        ));
    }
    for (device, state, name) in &recovered.other_devices {
        if recovered.revoked {
            note(&format!("revoked {name} ({device})"));
        } else {
            note(&format!(
                "your account still has {name} ({device}, {state}); if it is lost, run \
                 `sotto devices revoke {device}`"
            ));
        }
    }
    output::line(&json!({
        "device": client.device_id(),
        "revoked": if recovered.revoked {
            recovered.other_devices.iter().map(|d| d.0.to_string()).collect::<Vec<_>>()
        } else {
            Vec::new()
        },
        "history": recovered.history,
    }));
    Ok(())
}
