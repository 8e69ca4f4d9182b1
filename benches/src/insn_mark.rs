//! Markers of the exact instruction profile (benches/insn-profile, as
//! `insn-mark.h` writes them): `nopl 0x4b4556CC(%rax)`, a 7-byte NOP whose
//! displacement's low byte CODE (1 opens a window, 2 closes it) its QEMU
//! plugin recognises; nothing without the plugin.

macro_rules! insn_profile_mark {
    ($code:literal) => {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a NOP: no memory access, no register (left a compiler
        // barrier on purpose: the window keeps its place in the code).
        unsafe {
            std::arch::asm!(
                concat!(".byte 0x0f, 0x1f, 0x80, ", $code, ", 0x56, 0x45, 0x4b"),
                options(nostack)
            );
        }
    };
}

/// Opens a window of the instruction profile.
#[inline(always)]
pub fn start() {
    insn_profile_mark!("0x01");
}

/// Closes the window `start()` opened.
#[inline(always)]
pub fn stop() {
    insn_profile_mark!("0x02");
}
