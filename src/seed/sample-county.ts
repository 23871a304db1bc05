/**
 * SAMPLE DATA — NOT REAL REGISTRY DATA.
 *
 * A county shaped like Zhashui (柞水县, 商洛市, 陕西省; county code 611026): its nine towns and
 * sub-districts, with 81 made-up villages. Town names are the real ones so the board looks familiar,
 * and their codes follow the statistical code's pattern (sub-district 0xx, town 1xx) in the official
 * order; every village name, village code, coordinate and device below is invented for
 * demonstrations and tests.
 *
 * Devices: 10 villages have an IP emergency terminal, 69 a village loudspeaker or a flood-warning
 * PA set (some both), 2 borrowed battery speaker carts.
 */
import type { DeviceType } from '../contract/device.js';

export interface SampleTown {
  code: string;
  name: string;
}

export interface SampleVillage {
  code: string;
  name: string;
  townCode: string;
  lat: number;
  lon: number;
  quietHours: string | null;
}

export interface SampleDevice {
  id: string;
  villageCode: string;
  type: DeviceType;
  label: string;
}

export const SAMPLE_COUNTY_CODE = '611026';

/** Town: the last 3 digits of its 9-digit code, its name, how many (made-up) villages it gets. */
const TOWNS: [code: string, name: string, villages: number][] = [
  ['001', '乾佑街道', 12],
  ['100', '营盘镇', 10],
  ['101', '下梁镇', 9],
  ['102', '小岭镇', 9],
  ['103', '凤凰镇', 9],
  ['104', '红岩寺镇', 8],
  ['105', '曹坪镇', 8],
  ['106', '杏坪镇', 8],
  ['107', '瓦房口镇', 8],
];

const NAME_FIRST = ['东', '西', '南', '北', '上', '下', '大', '小', '前', '后', '新', '老'];
const NAME_SECOND = ['沟', '坪', '河', '湾', '岭', '庄', '岔'];

const LABELS: Record<DeviceType, string> = {
  emergency_terminal: '村委会应急广播终端 (示例)',
  village_loudspeaker: '村村通大喇叭 (示例)',
  flood_pa: '防汛扩音设备 (示例)',
  speaker_cart: '拉杆音箱 (示例, 借用)',
};

const ID_PREFIX: Record<DeviceType, string> = {
  emergency_terminal: 'et',
  village_loudspeaker: 'vl',
  flood_pa: 'fp',
  speaker_cart: 'sc',
};

export interface SampleCounty {
  towns: SampleTown[];
  villages: SampleVillage[];
  devices: SampleDevice[];
}

/** The sample county, built deterministically: the same towns, villages and device ids every time. */
export function sampleCounty(): SampleCounty {
  const towns: SampleTown[] = [];
  const villages: SampleVillage[] = [];
  const devices: SampleDevice[] = [];
  const device = (v: SampleVillage, type: DeviceType) =>
    devices.push({
      id: `${ID_PREFIX[type]}-${v.code}`,
      villageCode: v.code,
      type,
      label: LABELS[type],
    });

  let k = 0;
  TOWNS.forEach(([townSuffix, townName, count], t) => {
    const townCode = `${SAMPLE_COUNTY_CODE}${townSuffix}`;
    towns.push({ code: townCode, name: townName });
    for (let j = 0; j < count; j++, k++) {
      const village: SampleVillage = {
        code: `${townCode}${201 + j}`,
        name: `${NAME_FIRST[(k * 5) % 12]}${NAME_SECOND[Math.floor(k / 12)]}村`,
        townCode,
        lat: round(33.45 + ((k * 37) % 81) * 0.006),
        lon: round(108.95 + ((k * 53) % 81) * 0.005),
        quietHours: k % 3 === 0 ? '22:00-06:00' : null,
      };
      villages.push(village);

      const isLast = j === count - 1;
      if (j === 0 || (t === 0 && j === 1)) {
        device(village, 'emergency_terminal'); // 9 towns' seats + one more: 10 villages
      } else if (isLast && t >= 7) {
        device(village, 'speaker_cart'); // 2 villages borrowed battery carts
      } else if (k % 7 === 0) {
        device(village, 'flood_pa');
      } else {
        device(village, 'village_loudspeaker');
        if (k % 4 === 0) device(village, 'flood_pa');
      }
    }
  });
  return { towns, villages, devices };
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
