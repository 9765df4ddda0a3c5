//! The byte format of one relay-log row (SQLite backend): what one group commit added to the
//! hot queue and which hot copies it acknowledged.
//!
//! A row is a sequence of records, each a one-byte tag and fixed-width fields (integers
//! little-endian):
//!
//! ```text
//! envelope: 0x01 message[16] conversation[16] sender_account[32] sender_device[32]
//!           received_at:i64 copies:u32 (device[32] seq:i64)*copies body_len:u32 body
//! ack:      0x02 device[32] count:u32 seq:i64*count
//! ```
//!
//! The database is the only writer of these bytes, but a row is still decoded as untrusted
//! input (a damaged file, a restored backup from another version): every length is checked
//! against what is left, and a bad row is a typed error, never a panic or a huge allocation.

use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};

use crate::error::{Error, Result};

/// Copies one envelope record may name at most (a conversation's devices; far above any cap).
pub const MAX_COPIES: u32 = 65_536;

const TAG_ENVELOPE: u8 = 1;
const TAG_ACK: u8 = 2;

/// An envelope as the hot queue keeps it, with the copies it was stored for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEnvelope {
    /// The message id.
    pub message: MessageId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The sender's account.
    pub sender_account: AccountId,
    /// The sender's device.
    pub sender_device: DeviceId,
    /// Server receive time (ms).
    pub received_at: i64,
    /// Recipient devices and each copy's sequence number.
    pub copies: Vec<(DeviceId, i64)>,
    /// The ciphertext.
    pub body: Vec<u8>,
}

/// One record of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An envelope was stored.
    Envelope(LoggedEnvelope),
    /// `device` acknowledged its copies with these sequence numbers.
    Ack {
        /// The acknowledging device.
        device: DeviceId,
        /// The copies' sequence numbers.
        seqs: Vec<i64>,
    },
}

const TRUNCATED: Error = Error::Corrupt {
    what: "relay log row (truncated)",
};
const TOO_MANY: Error = Error::Corrupt {
    what: "relay log row (count out of range)",
};
const UNKNOWN_TAG: Error = Error::Corrupt {
    what: "relay log row (unknown record)",
};

/// Appends an envelope record to `row`.
pub fn put_envelope(row: &mut Vec<u8>, envelope: &LoggedEnvelope) -> Result<()> {
    let copies = u32::try_from(envelope.copies.len()).map_err(|_| TOO_MANY)?;
    let body_len = u32::try_from(envelope.body.len()).map_err(|_| TOO_MANY)?;
    if copies > MAX_COPIES {
        return Err(TOO_MANY);
    }
    row.reserve(
        1 + 16 + 16 + 32 + 32 + 8 + 4 + envelope.copies.len() * 40 + 4 + envelope.body.len(),
    );
    row.push(TAG_ENVELOPE);
    row.extend_from_slice(envelope.message.as_bytes());
    row.extend_from_slice(envelope.conversation.as_bytes());
    row.extend_from_slice(envelope.sender_account.as_bytes());
    row.extend_from_slice(envelope.sender_device.as_bytes());
    row.extend_from_slice(&envelope.received_at.to_le_bytes());
    row.extend_from_slice(&copies.to_le_bytes());
    for (device, seq) in &envelope.copies {
        row.extend_from_slice(device.as_bytes());
        row.extend_from_slice(&seq.to_le_bytes());
    }
    row.extend_from_slice(&body_len.to_le_bytes());
    row.extend_from_slice(&envelope.body);
    Ok(())
}

/// Appends an acknowledgement record to `row`.
pub fn put_ack(row: &mut Vec<u8>, device: &DeviceId, seqs: &[i64]) -> Result<()> {
    let count = u32::try_from(seqs.len()).map_err(|_| TOO_MANY)?;
    row.push(TAG_ACK);
    row.extend_from_slice(device.as_bytes());
    row.extend_from_slice(&count.to_le_bytes());
    for seq in seqs {
        row.extend_from_slice(&seq.to_le_bytes());
    }
    Ok(())
}

/// Decodes a whole row.
pub fn decode(row: &[u8]) -> Result<Vec<Record>> {
    let mut reader = Reader { rest: row };
    let mut records = Vec::new();
    while let Some(tag) = reader.byte() {
        records.push(match tag {
            TAG_ENVELOPE => Record::Envelope(reader.envelope()?),
            TAG_ACK => {
                let device = DeviceId::from_bytes(reader.array()?);
                let count = reader.u32()?;
                // Each seq takes 8 bytes: a count the row cannot hold is refused before
                // anything is allocated for it.
                if (count as usize).saturating_mul(8) > reader.rest.len() {
                    return Err(TRUNCATED);
                }
                let seqs = (0..count)
                    .map(|_| reader.i64())
                    .collect::<Result<Vec<_>>>()?;
                Record::Ack { device, seqs }
            }
            _ => return Err(UNKNOWN_TAG),
        });
    }
    Ok(records)
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*first)
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if n > self.rest.len() {
            return Err(TRUNCATED);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| TRUNCATED)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn envelope(&mut self) -> Result<LoggedEnvelope> {
        let message = MessageId::from_bytes(self.array()?);
        let conversation = ConversationId::from_bytes(self.array()?);
        let sender_account = AccountId::from_bytes(self.array()?);
        let sender_device = DeviceId::from_bytes(self.array()?);
        let received_at = self.i64()?;
        let count = self.u32()?;
        if count > MAX_COPIES {
            return Err(TOO_MANY);
        }
        if (count as usize).saturating_mul(40) > self.rest.len() {
            return Err(TRUNCATED);
        }
        let mut copies = Vec::with_capacity(count as usize);
        for _ in 0..count {
            copies.push((DeviceId::from_bytes(self.array()?), self.i64()?));
        }
        let body_len = self.u32()? as usize;
        let body = self.take(body_len)?.to_vec();
        Ok(LoggedEnvelope {
            message,
            conversation,
            sender_account,
            sender_device,
            received_at,
            copies,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(m: u8, copies: usize) -> LoggedEnvelope {
        LoggedEnvelope {
            message: MessageId::from_bytes([m; 16]),
            conversation: ConversationId::from_bytes([2; 16]),
            sender_account: AccountId::from_bytes([3; 32]),
            sender_device: DeviceId::from_bytes([4; 32]),
            received_at: -7,
            copies: (0..copies)
                .map(|i| (DeviceId::from_bytes([i as u8; 32]), i as i64 * 1000))
                .collect(),
            body: vec![m; 300],
        }
    }

    fn err(row: &[u8]) -> String {
        decode(row).unwrap_err().to_string()
    }

    #[test]
    fn a_row_decodes_to_what_was_put() {
        let mut row = Vec::new();
        put_envelope(&mut row, &envelope(1, 1)).unwrap();
        put_envelope(&mut row, &envelope(2, 3)).unwrap();
        put_ack(&mut row, &DeviceId::from_bytes([9; 32]), &[5, i64::MAX, -1]).unwrap();
        put_ack(&mut row, &DeviceId::from_bytes([8; 32]), &[]).unwrap();
        assert_eq!(
            decode(&row).unwrap(),
            vec![
                Record::Envelope(envelope(1, 1)),
                Record::Envelope(envelope(2, 3)),
                Record::Ack {
                    device: DeviceId::from_bytes([9; 32]),
                    seqs: vec![5, i64::MAX, -1]
                },
                Record::Ack {
                    device: DeviceId::from_bytes([8; 32]),
                    seqs: vec![]
                },
            ]
        );
        assert_eq!(decode(&[]).unwrap(), vec![]);
    }

    #[test]
    fn every_truncation_of_a_row_is_an_error() {
        let mut row = Vec::new();
        put_envelope(&mut row, &envelope(1, 2)).unwrap();
        put_ack(&mut row, &DeviceId::from_bytes([9; 32]), &[5, 6]).unwrap();
        let first = row.len() - (1 + 32 + 4 + 16);
        for cut in 1..row.len() {
            let result = decode(&row[..cut]);
            if cut == first {
                // A whole envelope record and nothing of the ack: a shorter valid row.
                assert!(result.is_ok());
            } else {
                assert!(
                    matches!(result, Err(e) if e.to_string() == TRUNCATED.to_string()),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn counts_the_row_cannot_hold_are_refused_before_allocating() {
        let mut row = vec![TAG_ACK];
        row.extend_from_slice(&[0; 32]);
        row.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(err(&row), TRUNCATED.to_string());

        let mut row = Vec::new();
        put_envelope(&mut row, &envelope(1, 0)).unwrap();
        // The copies count sits after tag, ids and time.
        let at = 1 + 16 + 16 + 32 + 32 + 8;
        row[at..at + 4].copy_from_slice(&(MAX_COPIES + 1).to_le_bytes());
        assert_eq!(err(&row), TOO_MANY.to_string());
        row[at..at + 4].copy_from_slice(&MAX_COPIES.to_le_bytes());
        assert_eq!(err(&row), TRUNCATED.to_string());
        assert_eq!(err(&[7]), UNKNOWN_TAG.to_string());
    }
}
