// Category bar charts on uPlot (a ~50 KB canvas chart, loaded with the dashboard only). uPlot sets its styles
// through the CSSOM (element.style), which the console's CSP (`style-src 'self'`) allows.
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type uPlotType from 'uplot'
import type { AlignedData, Options } from 'uplot'

export interface BarSeries {
  label: string
  values: number[]
  /** Left or right y axis; two series on one axis share its scale. */
  axis: 'left' | 'right'
  format(value: number): string
}

interface Props {
  title: string
  /** What the categories are ("Day", "Model"): the legend's first entry. */
  xLabel: string
  labels: string[]
  series: [BarSeries] | [BarSeries, BarSeries]
  /** A text alternative: the same figures as a table, for screen readers and for reading exact values. */
  table: ComponentChildren
}

// Mid-tone colours that read on both the light and the dark background.
const COLOURS = ['#4c6ef5', '#f08c00']

let uPlotModule: Promise<typeof uPlotType> | null = null
const loadUPlot = () => (uPlotModule ??= import('uplot').then((m) => m.default))

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback
}

function options(uPlot: typeof uPlotType, props: Props, width: number): Options {
  const n = props.labels.length
  const fg = cssVar('--muted', '#667')
  const grid = cssVar('--line', '#ddd')
  const two = props.series.length === 2
  // A second y axis only when the second series has a scale of its own.
  const secondAxis = two && props.series[1]!.axis !== props.series[0].axis
  // Keep one axis label per ~56 px, so 30 days fit a phone without overlapping.
  const every = Math.max(1, Math.ceil((n * 56) / Math.max(width - 80, 100)))
  const axisFor = (s: BarSeries, side: 1 | 3, showGrid: boolean): uPlotType.Axis => ({
    scale: s.axis,
    side,
    stroke: fg,
    grid: { show: showGrid, stroke: grid, width: 1 },
    ticks: { show: false },
    size: 56,
    values: (_u, splits) => splits.map((v) => s.format(v)),
  })
  return {
    width,
    height: 220,
    padding: [12, 8, 0, 8],
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    legend: { show: true, live: true },
    scales: {
      x: { time: false, range: [-0.5, n - 0.5] },
      left: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      right: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      {
        stroke: fg,
        grid: { show: false },
        ticks: { show: false },
        splits: () => props.labels.map((_, i) => i),
        values: (_u, splits) => splits.map((i) => (i % every === 0 ? (props.labels[i] ?? '') : '')),
      },
      axisFor(props.series[0], 3, true),
      ...(secondAxis ? [axisFor(props.series[1]!, 1, false)] : []),
    ],
    series: [
      { label: props.xLabel, value: (_u, i) => (i === null ? '' : (props.labels[i] ?? '')) },
      ...props.series.map((s, i) => ({
        label: s.label,
        scale: s.axis,
        stroke: COLOURS[i],
        fill: COLOURS[i],
        width: 0,
        value: (_u: uPlotType, v: number | null) => (v === null ? '—' : s.format(v)),
        // Two series side by side: one left of the tick, one right of it.
        paths: uPlot.paths.bars!({ size: [two ? 0.4 : 0.7, 48], align: two ? (i === 0 ? -1 : 1) : 0 }),
        points: { show: false },
      })),
    ],
  }
}

export function BarChart(props: Props) {
  const box = useRef<HTMLDivElement>(null)
  const [failed, setFailed] = useState<string | null>(null)

  useEffect(() => {
    const el = box.current
    if (!el) return
    let chart: uPlotType | null = null
    let observer: ResizeObserver | null = null
    let gone = false
    loadUPlot().then(
      (uPlot) => {
        if (gone) return
        const data: AlignedData = [props.labels.map((_, i) => i), ...props.series.map((s) => s.values)]
        chart = new uPlot(options(uPlot, props, el.clientWidth || 300), data, el)
        observer = new ResizeObserver(() => {
          if (chart && el.clientWidth > 0 && Math.abs(chart.width - el.clientWidth) > 1) chart.setSize({ width: el.clientWidth, height: 220 })
        })
        observer.observe(el)
      },
      () => setFailed('The chart could not be loaded.'),
    )
    return () => {
      gone = true
      observer?.disconnect()
      chart?.destroy()
    }
  }, [props.labels.join('\u0000'), ...props.series.map((s) => s.values.join(','))])

  return (
    <figure class="chart card">
      <figcaption>{props.title}</figcaption>
      {/* The canvas is for eyes; the same figures are in the table below for everyone else. */}
      <div class="chart-canvas" ref={box} aria-hidden="true" data-points={props.labels.length} />
      {failed ? <p class="muted">{failed}</p> : null}
      <details>
        <summary>Show as table</summary>
        {props.table}
      </details>
    </figure>
  )
}
