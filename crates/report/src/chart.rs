//! Charts drawn with plotters' SVG backend. Every chart is drawn from one value that also gives
//! its data table, so what the reader sees and what the table lists cannot disagree.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::html::{Drawn, Table, escape, number};

/// Width and height of a chart, in pixels.
const SIZE: (u32, u32) = (560, 380);
/// The font of every label (the browser's own sans-serif: nothing is fetched).
const FONT: &str = "sans-serif";

/// A colour of a series.
pub type Colour = RGBColor;

/// Colours of the tiers: high, medium, low.
pub const TIER_COLOURS: [Colour; 3] = [RGBColor(192, 57, 43), RGBColor(230, 126, 34), RGBColor(127, 140, 141)];
/// Colours of models or series, in order.
pub const PALETTE: [Colour; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];
/// Colour of reference lines (chance, perfect calibration).
const REFERENCE: Colour = RGBColor(150, 150, 150);

/// A line of a line chart.
pub struct Line {
    /// Its name in the legend and the data table.
    pub name: String,
    /// Its points.
    pub points: Vec<(f64, f64)>,
    /// Its colour.
    pub colour: Colour,
    /// A reference drawn thin and grey (chance, perfect calibration), not a figure.
    pub reference: bool,
    /// Draw a dot at each point (few points, such as calibration deciles).
    pub dots: bool,
}

impl Line {
    /// A figure's line.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, colour: Colour) -> Line {
        Line {
            name: name.into(),
            points,
            colour,
            reference: false,
            dots: false,
        }
    }

    /// A thin grey reference line.
    pub fn reference(name: impl Into<String>, points: Vec<(f64, f64)>) -> Line {
        Line {
            reference: true,
            ..Line::new(name, points, REFERENCE)
        }
    }

    /// The same line with a dot at each point.
    pub fn with_dots(self) -> Line {
        Line { dots: true, ..self }
    }
}

/// A shaded band between two curves on one grid (a bootstrap band).
pub struct Area {
    /// Its name in the legend and the data table.
    pub name: String,
    /// The grid.
    pub x: Vec<f64>,
    /// Lower edge.
    pub lower: Vec<f64>,
    /// Upper edge.
    pub upper: Vec<f64>,
    /// Its colour (drawn light).
    pub colour: Colour,
}

/// A chart of lines and bands.
pub struct LineChart {
    /// Title above the chart.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Range of the x axis.
    pub x_range: (f64, f64),
    /// Range of the y axis.
    pub y_range: (f64, f64),
    /// Bands, drawn first.
    pub areas: Vec<Area>,
    /// Lines, drawn over the bands.
    pub lines: Vec<Line>,
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn canvas<T>(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<T>) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.into())
            .and_then(|()| draw(&root))
            .and_then(|_| root.present().map_err(|e| e.into()))
    };
    match drawn {
        Ok(()) => svg,
        Err(e) => format!(
            "<p class=\"error\">This chart could not be drawn: {}</p>",
            escape(&e.to_string())
        ),
    }
}

impl LineChart {
    /// A chart on the unit square (rates, shares, probabilities) with one reference line.
    pub fn unit(title: &str, x_label: &str, y_label: &str, reference: Line) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.0),
            areas: Vec::new(),
            lines: vec![reference],
        }
    }

    /// Draws the chart and lists its lines' points and its bands.
    pub fn draw(&self) -> Drawn {
        let svg = canvas(|root| self.paint(root));
        let mut table = Table::new(&["series", &self.x_label, &self.y_label]);
        for line in self.lines.iter().filter(|l| !l.reference) {
            for &(x, y) in &line.points {
                table.row(vec![line.name.clone(), number(x), number(y)]);
            }
        }
        for area in &self.areas {
            for (k, &x) in area.x.iter().enumerate() {
                table.row(vec![format!("{} (lower)", area.name), number(x), number(area.lower[k])]);
                table.row(vec![format!("{} (upper)", area.name), number(x), number(area.upper[k])]);
            }
        }
        Drawn { svg, table }
    }

    fn paint(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(self.x_range.0..self.x_range.1, self.y_range.0..self.y_range.1)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .light_line_style(WHITE)
            .label_style((FONT, 12))
            .draw()?;
        for area in &self.areas {
            let mut outline: Vec<(f64, f64)> = area.x.iter().copied().zip(area.upper.iter().copied()).collect();
            outline.extend(area.x.iter().copied().zip(area.lower.iter().copied()).rev());
            let colour = area.colour;
            chart
                .draw_series(std::iter::once(Polygon::new(outline, colour.mix(0.18).filled())))?
                .label(&area.name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], colour.mix(0.18).filled()));
        }
        for line in &self.lines {
            let colour = line.colour;
            let width = if line.reference { 1 } else { 2 };
            let style = colour.stroke_width(width);
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))?
                .label(&line.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(width)));
            if line.dots {
                chart.draw_series(line.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(REFERENCE)
            .draw()?;
        Ok(())
    }
}

/// Horizontal bars, one per named value, largest first as given.
pub struct BarChart {
    /// Title above the chart.
    pub title: String,
    /// Label of the value axis.
    pub value_label: String,
    /// (name, value) per bar, top to bottom.
    pub bars: Vec<(String, f64)>,
    /// Colour of the bars.
    pub colour: Colour,
}

impl BarChart {
    /// Draws the bars and lists them.
    pub fn draw(&self) -> Drawn {
        let svg = canvas(|root| self.paint(root));
        let mut table = Table::new(&["name", &self.value_label]);
        for (name, value) in &self.bars {
            table.row(vec![name.clone(), number(*value)]);
        }
        Drawn { svg, table }
    }

    fn paint(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        let n = self.bars.len().max(1);
        let max = self.bars.iter().map(|b| b.1).fold(0.0, f64::max);
        let max = if max > 0.0 { max * 1.05 } else { 1.0 };
        let longest = self.bars.iter().map(|b| b.0.chars().count()).max().unwrap_or(4);
        let names: Vec<&str> = self.bars.iter().map(|b| b.0.as_str()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size((longest as u32 * 7 + 12).min(300))
            .build_cartesian_2d(0.0..max, (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .x_desc(&self.value_label)
            .light_line_style(WHITE)
            .disable_y_mesh()
            .y_labels(n)
            .label_style((FONT, 12))
            .y_label_formatter(&|v| match v {
                // Bars run top to bottom: segment 0 is drawn at the bottom.
                SegmentValue::CenterOf(i) if *i < names.len() => names[names.len() - 1 - *i].to_string(),
                _ => String::new(),
            })
            .draw()?;
        let colour = self.colour;
        chart.draw_series(self.bars.iter().enumerate().map(|(k, (_, v))| {
            let slot = n - 1 - k;
            let mut bar = Rectangle::new(
                [(0.0, SegmentValue::Exact(slot)), (*v, SegmentValue::Exact(slot + 1))],
                colour.filled(),
            );
            bar.set_margin(2, 2, 0, 0);
            bar
        }))?;
        Ok(())
    }
}

/// Counts per equal-width bin, stacked by group (the tiers of a list).
pub struct StackedHistogram {
    /// Title above the chart.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Bin edges (one more than the bins).
    pub edges: Vec<f64>,
    /// Group names, bottom of the stack last.
    pub groups: Vec<String>,
    /// Per bin, the count of each group.
    pub counts: Vec<Vec<u64>>,
    /// Colour of each group.
    pub colours: Vec<Colour>,
}

impl StackedHistogram {
    /// Draws the stacks and lists the counts.
    pub fn draw(&self) -> Drawn {
        let svg = canvas(|root| self.paint(root));
        let mut header = vec!["from", "to"];
        header.extend(self.groups.iter().map(String::as_str));
        let mut table = Table::new(&header);
        for (b, counts) in self.counts.iter().enumerate() {
            let mut row = vec![number(self.edges[b]), number(self.edges[b + 1])];
            row.extend(counts.iter().map(|c| c.to_string()));
            table.row(row);
        }
        Drawn { svg, table }
    }

    fn paint(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        let top = self
            .counts
            .iter()
            .map(|c| c.iter().sum::<u64>())
            .max()
            .unwrap_or(0)
            .max(1) as f64
            * 1.05;
        let (x0, x1) = (
            self.edges.first().copied().unwrap_or(0.0),
            self.edges.last().copied().unwrap_or(1.0),
        );
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc("customers")
            .light_line_style(WHITE)
            .label_style((FONT, 12))
            .draw()?;
        for (g, name) in self.groups.iter().enumerate() {
            let colour = self.colours[g % self.colours.len()];
            chart
                .draw_series(self.counts.iter().enumerate().map(|(b, counts)| {
                    // Groups after `g` sit below it in the stack.
                    let below: u64 = counts[g + 1..].iter().sum();
                    let mut bar = Rectangle::new(
                        [
                            (self.edges[b], below as f64),
                            (self.edges[b + 1], (below + counts[g]) as f64),
                        ],
                        colour.filled(),
                    );
                    bar.set_margin(0, 0, 1, 1);
                    bar
                }))?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(REFERENCE)
            .draw()?;
        Ok(())
    }
}

/// Colour of series `k`.
pub fn colour(k: usize) -> Colour {
    PALETTE[k % PALETTE.len()]
}
