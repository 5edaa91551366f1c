//! The bytes of a component file before anything runs them: the preamble, the
//! top-level custom sections, the source stamp of the Basic artifact.
//!
//! wasmsign2 signs the sections but not the 8-byte preamble, so the preamble is
//! checked here; a core module (or anything else) is refused with a hint.

/// `\0asm`, version 0x0d, layer 1: a component.
pub const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// `\0asm`, version 1, layer 0: a core module.
const MODULE_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// Name of the custom section that records what the Basic artifact was built from.
pub const SOURCE_STAMP_SECTION: &str = "tandem-source-sha256";

/// Checks that `bytes` start with the component preamble.
pub fn check_preamble(bytes: &[u8]) -> Result<(), String> {
    match bytes.get(..8) {
        Some(p) if p == COMPONENT_PREAMBLE => Ok(()),
        Some(p) if p == MODULE_PREAMBLE => Err(
            "it is a core WebAssembly module, not a component (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)"
                .into(),
        ),
        Some(p) if p[..4] == COMPONENT_PREAMBLE[..4] => {
            Err("its preamble is not the component header (damaged or an unknown version)".into())
        }
        _ => Err("it is not a WebAssembly file".into()),
    }
}

/// Top-level sections as (id, payload), without descending into nested modules.
pub fn sections(bytes: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < bytes.len() {
        let id = bytes[pos];
        pos += 1;
        let (len, used) = read_leb_u32(&bytes[pos..]).ok_or("a section size is malformed")?;
        pos += used;
        let end = pos
            .checked_add(len as usize)
            .filter(|end| *end <= bytes.len())
            .ok_or("a section runs past the end of the file")?;
        out.push((id, &bytes[pos..end]));
        pos = end;
    }
    Ok(out)
}

/// The payload of the first top-level custom section called `name`.
pub fn custom_section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    for (id, payload) in sections(bytes)? {
        if id != 0 {
            continue;
        }
        let (name_len, used) = read_leb_u32(payload).ok_or("a custom section name is malformed")?;
        let name_end = used + name_len as usize;
        if payload.get(used..name_end) == Some(name.as_bytes()) {
            return Ok(Some(&payload[name_end..]));
        }
    }
    Ok(None)
}

/// Appends a custom section at the end of a component.
pub fn append_custom_section(bytes: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut payload = Vec::with_capacity(name.len() + data.len() + 5);
    write_leb_u32(&mut payload, name.len() as u32);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    bytes.push(0);
    write_leb_u32(bytes, payload.len() as u32);
    bytes.extend_from_slice(&payload);
}

fn read_leb_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn write_leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_section_reads_back_after_append() {
        let mut bytes = COMPONENT_PREAMBLE.to_vec();
        append_custom_section(&mut bytes, "other", b"x");
        append_custom_section(&mut bytes, SOURCE_STAMP_SECTION, &[7u8; 300]);
        let found = custom_section(&bytes, SOURCE_STAMP_SECTION)
            .unwrap()
            .unwrap();
        assert_eq!(found, &[7u8; 300][..]);
        assert!(custom_section(&bytes, "missing").unwrap().is_none());
    }

    #[test]
    fn a_core_module_is_told_apart_from_a_component() {
        assert!(check_preamble(&COMPONENT_PREAMBLE).is_ok());
        assert!(
            check_preamble(&MODULE_PREAMBLE)
                .unwrap_err()
                .contains("core WebAssembly module")
        );
        assert!(
            check_preamble(b"hello world")
                .unwrap_err()
                .contains("not a WebAssembly file")
        );
    }

    #[test]
    fn a_truncated_section_is_an_error_not_a_panic() {
        let mut bytes = COMPONENT_PREAMBLE.to_vec();
        bytes.extend_from_slice(&[0, 0x7f, 1, 2]);
        assert!(sections(&bytes).is_err());
    }
}
