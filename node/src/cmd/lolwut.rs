//! LOLWUT: the server version, or with `VERSION 5` / `VERSION 6` a random drawing.
//!
//! Redis 7.0 answers plain `LOLWUT` (and any version other than 5 and 6) with its version
//! line. Version 5 draws a grid of squares growing more disordered row after row, in the
//! manner of Georg Nees' "Schotter", in Braille characters (2x4 dots each); version 6 draws
//! a city skyline in four shades of grey with ANSI colours. Both are random at every call, so
//! only their shape (size, framing, parameters, errors) can match Redis's; the pictures are
//! our own.

use rand::Rng;

use super::{flags as f, CmdResult, Command};
use crate::dispatch::Ctx;
use crate::error::CmdError;

pub static COMMANDS: &[Command] = &[Command {
    name: "lolwut",
    arity: -1,
    flags: f::READONLY | f::FAST,
    handler: Some(lolwut),
    group: "server",
    since: "5.0.0",
    complexity: "",
    summary: "Answers the server version, after a random drawing with VERSION 5 or 6.",
    ..Command::DEFAULT
}];

fn lolwut(ctx: &mut Ctx) -> CmdResult {
    let mut version = 0;
    let mut first = 1;
    if ctx.args.len() >= 3 && ctx.args[1].eq_ignore_ascii_case(b"version") {
        version = ctx.int_arg(2)?;
        first = 3;
    }
    // The drawings' parameters: integers, clamped to Redis's ranges.
    let param = |i: usize, default: i64, max: i64| -> Result<usize, CmdError> {
        let v = match ctx.args.get(first + i) {
            Some(a) => crate::util::num::parse_i64(a).ok_or(CmdError::NotInteger)?,
            None => default,
        };
        Ok(v.clamp(1, max) as usize)
    };
    let mut text = match version {
        5 => {
            let (cols, per_row, per_col) =
                (param(0, 66, 1000)?, param(1, 8, 200)?, param(2, 12, 200)?);
            let mut t = schotter(cols, per_row, per_col, &mut rand::thread_rng());
            t.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
            t
        }
        6 => {
            let (cols, rows) = (param(0, 80, 1000)?, param(1, 20, 1000)?);
            let mut t = skyline(cols, rows, &mut rand::thread_rng());
            t.push_str(
                "Dedicated to the 8 bit game developers of past and present.\n\
                 Original 8 bit image from Plaguemon by hikikomori. Redis ver. ",
            );
            t
        }
        _ => "Redis ver. ".to_string(),
    };
    text.push_str(crate::REDIS_VERSION);
    text.push('\n');
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// A black and white picture, `width` x `height` dots, one bit each (the largest, 2,000 by
/// about 400,000 dots, takes 100 MB).
struct Canvas {
    width: usize,
    height: usize,
    dots: Vec<u64>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        Canvas {
            width,
            height,
            dots: vec![0; (width * height).div_ceil(64)],
        }
    }

    fn set(&mut self, x: i64, y: i64) {
        if (0..self.width as i64).contains(&x) && (0..self.height as i64).contains(&y) {
            let i = y as usize * self.width + x as usize;
            self.dots[i / 64] |= 1 << (i % 64);
        }
    }

    fn get(&self, x: usize, y: usize) -> bool {
        let i = y * self.width + x;
        x < self.width && y < self.height && self.dots[i / 64] & (1 << (i % 64)) != 0
    }

    /// A straight line between two points, one dot per step along its longer axis.
    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            self.set(
                (x0 + (x1 - x0) * t).round() as i64,
                (y0 + (y1 - y0) * t).round() as i64,
            );
        }
    }

    /// Each 2x4 block of dots as one Braille character (U+2800 plus a bit per raised dot),
    /// one text line per 4 rows of dots.
    fn braille(&self) -> String {
        // The bit of the dot at (x, y) within its block.
        const BIT: [[u32; 2]; 4] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]];
        let mut out = String::new();
        for by in (0..self.height).step_by(4) {
            for bx in (0..self.width).step_by(2) {
                let mut code = 0x2800;
                for (dy, row) in BIT.iter().enumerate() {
                    for (dx, bit) in row.iter().enumerate() {
                        if self.get(bx + dx, by + dy) {
                            code |= bit;
                        }
                    }
                }
                out.push(char::from_u32(code).unwrap_or(' '));
            }
            out.push('\n');
        }
        out
    }
}

/// `per_row` x `per_col` squares on a canvas `cols` characters wide: the first row in
/// order, each next one turned and shifted a little more at random.
fn schotter(cols: usize, per_row: usize, per_col: usize, rng: &mut impl Rng) -> String {
    let width = cols * 2;
    let margin = if width > 4 { 2.0 } else { 0.0 };
    let side = (width as f64 - 2.0 * margin) / per_row as f64;
    let height = (side * per_col as f64 + 2.0 * margin).ceil() as usize;
    let mut canvas = Canvas::new(width, height);
    for row in 0..per_col {
        // Disorder grows from none on the first row to the most on the last.
        let disorder = row as f64 / per_col as f64;
        for col in 0..per_row {
            let angle = rng.gen_range(-1.0..=1.0) * disorder * std::f64::consts::FRAC_PI_4;
            let reach = disorder * side / 3.0;
            let cx = margin + side * (col as f64 + 0.5) + rng.gen_range(-1.0..=1.0) * reach;
            let cy = margin + side * (row as f64 + 0.5) + rng.gen_range(-1.0..=1.0) * reach;
            let half = side / 2.0;
            let (sin, cos) = angle.sin_cos();
            let corner = |dx: f64, dy: f64| (cx + dx * cos - dy * sin, cy + dx * sin + dy * cos);
            let corners = [
                corner(-half, -half),
                corner(half, -half),
                corner(half, half),
                corner(-half, half),
            ];
            for i in 0..4 {
                canvas.line(corners[i], corners[(i + 1) % 4]);
            }
        }
    }
    canvas.braille()
}

/// The four shades of the skyline, darkest first, as ANSI foreground;background codes.
const SHADES: [&str; 4] = ["0;30;40", "0;90;100", "0;37;47", "0;97;107"];

/// A skyline `cols` x `rows` cells: a pale sky, buildings of random heights and widths in
/// the two dark shades with lit windows, and the street at the bottom.
fn skyline(cols: usize, rows: usize, rng: &mut impl Rng) -> String {
    let mut cells = vec![3u8; cols * rows];
    let mut x = 0;
    while x < cols {
        let w = rng.gen_range(3..=8).min(cols - x);
        let h = rng.gen_range(rows / 4..=rows * 3 / 4 + 1).min(rows);
        let body = rng.gen_range(0..=1u8);
        for y in rows - h..rows {
            for dx in 0..w {
                // Windows on every other cell inside the walls, some of them lit.
                let window = dx > 0 && dx + 1 < w && y % 2 == 1 && dx % 2 == 1;
                cells[y * cols + x + dx] = if window && rng.gen_bool(0.6) { 2 } else { body };
            }
        }
        x += w + rng.gen_range(0..=1);
    }
    if rows > 1 {
        cells[(rows - 1) * cols..].fill(0);
    }
    let mut out = String::new();
    for row in cells.chunks(cols) {
        for &c in row {
            out.push_str("\x1b[");
            out.push_str(SHADES[c as usize]);
            out.push_str("m \x1b[0m");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schotter_has_redis_shape() {
        let mut rng = rand::thread_rng();
        // Lines and characters per line for Redis's defaults and a few clamped sizes.
        for (cols, per_row, per_col, lines) in [(66, 8, 12, 49), (10, 8, 12, 7), (1, 1, 1, 1)] {
            let t = schotter(cols, per_row, per_col, &mut rng);
            assert_eq!(t.lines().count(), lines, "{cols} {per_row} {per_col}");
            assert!(t.lines().all(|l| l.chars().count() == cols));
        }
        // The first row of squares is in order: its top edge is one straight line of dots.
        let t = schotter(66, 8, 12, &mut rng);
        let top: String = t.lines().next().unwrap().chars().skip(1).take(60).collect();
        assert!(top.chars().all(|c| c != '\u{2800}'), "{top}");
    }

    #[test]
    fn skyline_has_sky_and_street() {
        let t = skyline(10, 5, &mut rand::thread_rng());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines.iter().all(|l| l.matches("m \x1b[0m").count() == 10));
        assert_eq!(lines[4].matches("\x1b[0;30;40m").count(), 10);
        assert!(lines[0].contains("\x1b[0;97;107m"));
    }
}
