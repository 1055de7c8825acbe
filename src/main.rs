//! The `sol` binary: parses the command line and hands over to the library.

fn main() {
    std::process::exit(sol::cli::main());
}

/// Stand-ins for the libunwind functions std's panic hook walks the stack with (its
/// `RUST_BACKTRACE` output), in binaries built without unwind tables: `cross/build.sh`
/// passes `--cfg sol_no_unwind_tables` with `-C force-unwind-tables=no`, drops the C
/// parts' tables (`cross/discard.ld`) and links with `--wrap=_Unwind_Backtrace` (and
/// the two functions below), which sends std's calls here. There the real walk finds no
/// table for the first frame and stops with `_URC_END_OF_STACK` before reporting a
/// frame, as these do; with nothing calling it, the linker drops zig's libunwind (its
/// DWARF interpreter and `fprintf` diagnostics, 15 KB on mipsel). A panic still prints
/// its message.
#[cfg(sol_no_unwind_tables)]
mod no_unwind_tables {
    use std::ffi::{c_int, c_void};

    /// `_URC_END_OF_STACK`: the walk reached the last frame.
    const END_OF_STACK: c_int = 5;

    /// `_Unwind_Backtrace(trace, arg)`: reports no frame.
    // Not `unsafe`: it reads neither argument. The signature is libunwind's (`unwind.h`),
    // the one std's `backtrace` module declares, so calls through it are well-formed.
    #[export_name = "__wrap__Unwind_Backtrace"]
    extern "C" fn backtrace(_trace: *mut c_void, _arg: *mut c_void) -> c_int {
        END_OF_STACK
    }

    /// `_Unwind_GetIP(context)`: only called from inside a walk, which never starts here.
    #[cfg(not(target_arch = "arm"))]
    #[export_name = "__wrap__Unwind_GetIP"]
    extern "C" fn get_ip(_context: *mut c_void) -> usize {
        0
    }

    /// `_Unwind_VRS_Get(context, class, register, representation, value)`: ARM EHABI's
    /// register read, behind ARM's `_Unwind_GetIP`; likewise never called. Returns
    /// `_UVRSR_FAILED`.
    #[cfg(target_arch = "arm")]
    #[export_name = "__wrap__Unwind_VRS_Get"]
    extern "C" fn vrs_get(
        _context: *mut c_void,
        _class: c_int,
        _register: usize,
        _representation: c_int,
        _value: *mut c_void,
    ) -> c_int {
        2
    }
}
