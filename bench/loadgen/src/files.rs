//! The open-file budget. Every socket is a file in the process that holds it, and both ends of
//! every socket live on this machine, so before any setup the generator checks that each
//! process's share fits the open-file limit: its own (every device, or with `--workers` only
//! the senders), each worker's (its slice of the idle devices) and each node's (its share of
//! all devices, `i % nodes`). A run that does not fit is refused with what would make it fit.

/// Files beyond the sockets that a process needs open (database, listener, logs, the pipes to
/// the workers).
pub const SPARE_FILES: u64 = 256;

/// How a run's sockets are spread over processes.
pub struct Spread {
    /// Every socket of the run (idle devices and senders).
    pub devices: usize,
    /// Idle mode: the idle devices, the ones workers can hold.
    pub idle: Option<usize>,
    /// Worker processes holding the idle devices (1: this process holds them).
    pub workers: usize,
    pub nodes: usize,
}

/// Processes of at most `room` sockets each that `sockets` need.
fn processes_for(sockets: usize, room: usize) -> usize {
    sockets.div_ceil(room.max(1))
}

/// Refuses a spread that some process cannot hold under the open-file limit `files`, saying why
/// and what to ask for instead.
pub fn check(s: &Spread, files: u64) -> Result<(), String> {
    let room = files.saturating_sub(SPARE_FILES) as usize;
    let spread = match s.idle {
        Some(idle) if s.workers > 1 => idle,
        _ => 0,
    };
    let here = s.devices - spread;
    if here > room {
        // Idle mode's senders come on top of the devices asked for.
        let extra = s.devices - s.idle.unwrap_or(s.devices);
        let mut why = format!(
            "{here} sockets need {here} open files in this process, and the open-file limit here \
             is {files}: raise the hard limit (`ulimit -Hn` as root, LimitNOFILE= in a unit) or \
             ask for at most {} devices",
            room.saturating_sub(extra)
        );
        if let Some(idle) = s.idle {
            why.push_str(&format!(
                ", or spread the idle devices over `--workers {}`",
                processes_for(idle, room).max(2)
            ));
        }
        return Err(why);
    }
    if spread > 0 {
        let slice = spread.div_ceil(s.workers);
        if slice > room {
            return Err(format!(
                "each of {} workers holds up to {slice} sockets, and the open-file limit here is \
                 {files}: ask for `--workers {}`",
                s.workers,
                processes_for(spread, room)
            ));
        }
    }
    let per_node = s.devices.div_ceil(s.nodes);
    if per_node > room {
        return Err(format!(
            "each of {} nodes holds up to {per_node} sockets, and the open-file limit the nodes \
             inherit is {files}: raise the hard limit or ask for `--nodes {}` (with \
             --database-url and --nats-url)",
            s.nodes,
            processes_for(s.devices, room)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 20_000;

    fn idle(idle: usize, workers: usize, nodes: usize) -> Spread {
        Spread {
            devices: idle + 10,
            idle: Some(idle),
            workers,
            nodes,
        }
    }

    #[test]
    fn one_process_holds_what_fits_under_the_limit_less_the_spare() {
        assert!(check(&idle(19_734, 1, 1), LIMIT).is_ok());
        let why = check(&idle(19_735, 1, 1), LIMIT).unwrap_err();
        assert!(why.contains("in this process"), "{why}");
        assert!(why.contains("at most 19734 devices"), "{why}");
        assert!(why.contains("--workers 2"), "{why}");
    }

    #[test]
    fn a_hundred_thousand_fit_in_six_workers_and_six_nodes() {
        assert!(check(&idle(100_000, 6, 6), LIMIT).is_ok());
    }

    #[test]
    fn too_few_workers_are_refused_with_the_count_needed() {
        let why = check(&idle(100_000, 5, 6), LIMIT).unwrap_err();
        assert!(why.contains("each of 5 workers holds up to 20000"), "{why}");
        assert!(why.contains("--workers 6"), "{why}");
    }

    #[test]
    fn too_few_nodes_are_refused_with_the_count_needed() {
        let why = check(&idle(25_000, 2, 1), LIMIT).unwrap_err();
        assert!(why.contains("each of 1 nodes holds up to 25010"), "{why}");
        assert!(why.contains("--nodes 2"), "{why}");
        assert!(check(&idle(25_000, 2, 2), LIMIT).is_ok());
    }

    #[test]
    fn the_relay_modes_hold_every_device_here() {
        let relay = Spread {
            devices: 30_000,
            idle: None,
            workers: 1,
            nodes: 2,
        };
        let why = check(&relay, LIMIT).unwrap_err();
        assert!(
            why.contains("in this process") && !why.contains("--workers"),
            "{why}"
        );
    }
}
